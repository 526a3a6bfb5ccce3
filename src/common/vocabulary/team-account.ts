/**
 * A Team workspace id as the `ChatGPT-Account-ID` header and the `Chatgpt-Account-Id` body field carry it.
 * Shared by the API credential guard (auth) and the chat request DTO (chat).
 */
export const TEAM_ACCOUNT_ID = /^[A-Za-z0-9_-]{1,100}$/;
