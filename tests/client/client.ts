// A client of pe-portal generated from its /openapi.json (openapi-typescript + openapi-fetch),
// compiled with `tsc --strict`: every body below, error bodies included, is typed from the
// document. Run: node dist/client.js BASE_URL EMAIL PASSWORD; prints what it saw as JSON.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type ApiError = components["schemas"]["Error"];
type Account = components["schemas"]["UserRead"];

const [baseUrl, email, password] = process.argv.slice(2);
if (baseUrl === undefined || email === undefined || password === undefined) {
  throw new Error("usage: node dist/client.js BASE_URL EMAIL PASSWORD");
}
const api = createClient<paths>({ baseUrl });

function fail(step: string, status: number, error: ApiError | undefined): never {
  throw new Error(`${step}: ${status} ${error?.error.code ?? "(no error body)"}`);
}

const registered = await api.POST("/api/v1/auth/register", { body: { email, password } });
if (registered.data === undefined) fail("register", registered.response.status, registered.error);
const account: Account = registered.data;

const login = await api.POST("/api/v1/auth/login", { body: { email, password } });
if (login.data === undefined) fail("login", login.response.status, login.error);
// An account with a second factor answers `mfaRequired` instead of tokens: the union is typed.
if ("mfaRequired" in login.data) throw new Error("this account has no second factor");
const tokens = login.data;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const me = await api.GET("/api/v1/users/me", {
  headers: bearer(tokens.accessToken),
});
if (me.data === undefined) fail("me", me.response.status, me.error);

const refreshed = await api.POST("/api/v1/auth/refresh", {
  body: { refreshToken: tokens.refreshToken },
});
if (refreshed.data === undefined) fail("refresh", refreshed.response.status, refreshed.error);
const access = refreshed.data.accessToken;

const sessions = await api.GET("/api/v1/auth/sessions", { headers: bearer(access) });
if (sessions.data === undefined) fail("sessions", sessions.response.status, sessions.error);

const signedOut = await api.POST("/api/v1/auth/logout", { headers: bearer(access) });
if (signedOut.response.status !== 204) fail("logout", signedOut.response.status, signedOut.error);

const afterwards = await api.GET("/api/v1/users/me", { headers: bearer(access) });
const refusal: ApiError | undefined = afterwards.error;

console.log(
  JSON.stringify({
    registeredId: account.id,
    meEmail: me.data.email,
    rotated: refreshed.data.refreshToken !== tokens.refreshToken,
    currentSessions: sessions.data.filter((session) => session.current).length,
    afterSignOut: { status: afterwards.response.status, code: refusal?.error.code ?? null },
  }),
);
