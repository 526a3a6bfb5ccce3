/**
 * What today's chatgpt.com web app says about itself, for when the live page cannot be read. When the upstream
 * ships a new web app and the page cannot be read (a challenge, a new page shape), update the values here: this
 * is the one file that holds them (README, "Upstream").
 */
export const WEB_APP_DEFAULTS = {
  /** `oai-client-version`: the page's `<html data-build="prod-…">`. Seen in 2025–2026 pages; this value is assumed. */
  clientVersion: 'prod-0749372c57dc2f5a1c6aa5f4f9802a682aebf139',
  /** `oai-client-build-number`: a decimal number the page carries beside its build (assumed value). */
  clientBuildNumber: '2771452',
  /** The first path of the new send flow (`gateway-live-ui.md` §4); used as `x-openai-target-path`. */
  conversationPath: '/backend-api/f/conversation',
} as const;

/** The web app's release as read from its page (or the defaults above). */
export interface WebAppRelease {
  clientVersion: string;
  clientBuildNumber: string;
}
