/**
 * A Team workspace id as the `ChatGPT-Account-ID` header and the `Chatgpt-Account-Id` body field carry it.
 * Shared by the API credential guard (auth) and the chat request DTO (chat).
 */
export const TEAM_ACCOUNT_ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * A ChatGPT workspace (account) id in the `token,account_id` form: a UUID, as the upstream's
 * `chatgpt_account_id` claim and accounts/check carry it. Nothing looser: a looser shape would read the second
 * of two comma-joined tokens as a workspace id. An id is not a secret (it opens nothing without a token, and
 * accounts/check shows it to every member), so the admin sees it in full.
 */
const WORKSPACE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isWorkspaceId(value: string): boolean {
  return WORKSPACE_ID.test(value);
}
