// Passkeys in the console: the only script, and only because WebAuthn has no form of its own.
// A form marked data-passkey asks the server for options, lets the browser's authenticator
// answer, puts the answer (JSON) in the form's "credential" field and submits the form as usual.
"use strict";

function csrfToken(form) {
  return form.querySelector('input[name="csrf_token"]').value;
}

async function fetchOptions(form) {
  const body = new URLSearchParams(new FormData(form));
  const response = await fetch(form.dataset.options, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken(form) },
  });
  if (!response.ok) {
    throw new Error("options refused: " + response.status);
  }
  return response.json();
}

async function answer(form) {
  const options = await fetchOptions(form);
  if (form.dataset.passkey === "register") {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    return navigator.credentials.create({ publicKey });
  }
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  return navigator.credentials.get({ publicKey });
}

function showProblem(form, shown) {
  const problem = form.querySelector("[data-passkey-error]");
  if (problem) {
    problem.hidden = !shown;
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.passkey) {
    return;
  }
  const field = form.querySelector('input[name="credential"]');
  if (field.value) {
    return; // the answer is in: let the form go
  }
  event.preventDefault();
  showProblem(form, false);
  try {
    const credential = await answer(form);
    field.value = JSON.stringify(credential.toJSON());
    form.submit();
  } catch (error) {
    console.warn(error);
    showProblem(form, true);
  }
});
