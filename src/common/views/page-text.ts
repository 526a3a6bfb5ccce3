import type { PageLanguage } from './page-preferences';

/**
 * Every word of our own pages (home, sign-in, sign-out, admin), in English and Chinese. Templates read it
 * as `{{t.section.key}}`; the Chinese table must have exactly the English keys (checked by its spec).
 */
const en = {
  common: {
    switchLanguage: '中文',
    switchLanguageLabel: 'Switch to Chinese',
    theme: 'Theme',
    themeAuto: 'Auto',
    themeLight: 'Light',
    themeDark: 'Dark',
    footer: 'Powered by FlowGPT',
  },
  home: {
    title: 'FlowGPT',
    tagline: 'Good at UI.',
    intro: 'Chat in the official web app with your own token or a seed token shared with you.',
    signIn: 'Sign in',
  },
  signIn: {
    title: 'Sign in',
    heading: 'Sign in',
    intro: 'Enter your token to sign in to FlowGPT.',
    tokenLabel: 'Token',
    placeholder: 'Access, refresh, session or seed token',
    submit: 'Sign in',
    back: 'Back',
    kinds:
      'An access token (eyJhbGciOi…), a refresh token, a session token (the __Secure-next-auth.session-token cookie of chatgpt.com), or a seed token given to you by the administrator.',
    confirmHeading: 'Sign in with this link?',
    confirmIntro: 'A link asks to sign you in to FlowGPT with the token {masked}. Sign in only if you opened this link yourself.',
    cancel: 'Cancel',
  },
  signOut: {
    title: 'Sign out',
    heading: 'Sign out',
    intro: 'Are you sure you want to sign out?',
    submit: 'Sign out',
    cancel: 'Cancel',
  },
  signedIn: {
    title: 'Signed in',
    heading: 'You are signed in',
    unavailable: 'The chat interface is not available on this server yet.',
    signOut: 'Sign out',
  },
  errors: {
    empty: 'Enter a token.',
    unknownShape:
      'This is not a token FlowGPT knows: paste an access token (eyJhbGciOi…), a refresh token, or a seed token without spaces.',
    malformedAccessToken: 'This looks like an access token, but it cannot be read: check that it was copied whole.',
    expired: 'This access token expired on {date}. Sign in with a new one, or with a refresh token.',
    refreshRefused: 'The auth server refused this refresh token: it is invalid, revoked or already used.',
    authServerDown: 'The auth server could not be reached to check this refresh token. Try again in a moment.',
    sessionRefused: 'chatgpt.com does not know this session token: it has expired or was signed out. Copy a new one from your browser.',
    accessRefused: 'chatgpt.com refused this access token: it was revoked or signed out, or is not a real token. Copy a new one.',
    workspaceUnknown: 'This access token’s account is not a member of the workspace named after the comma.',
    sessionUnavailable: 'chatgpt.com could not be reached to check this session token. Try again in a moment.',
    seedUnknown: 'This seed token is unknown. Ask the administrator for one.',
    seedLimit:
      'This server takes no new seed tokens: it has as many as it keeps. Sign in with a seed token you used before, or ask the administrator for one.',
    poolEmpty: 'No shared account is available right now. Try again later or ask the administrator.',
    seedTooShort: 'A seed token must be at least 8 characters long, so that nobody else picks the same one.',
    poolKey: 'This is an API key for the token pool; it cannot be used to sign in here. Ask the administrator for a seed token.',
    adminKey: 'This is the admin secret; it cannot be used to sign in here. The admin pages are at /admin.',
    apiPrefix: 'This is the API path prefix; it cannot be used to sign in here. Ask the administrator for a seed token.',
    unsupported: 'This kind of token cannot be used to sign in here.',
    formExpired: 'The form expired. It has been reloaded: please submit it again.',
    sessionEnded: 'Your session has ended: its token expired or no longer works. Sign in again.',
    throttled: 'Too many sign-in attempts from your network. Try again in {minutes} min.',
  },
  admin: {
    brandTag: 'admin',
    signInTitle: 'Sign in',
    signInHeading: 'Sign in',
    signInIntro: 'Enter the admin secret to manage the token pool.',
    secretLabel: 'Admin secret',
    signInSubmit: 'Sign in',
    signInHint: 'The secret is the server’s ADMIN_KEY, or API_PREFIX when no ADMIN_KEY is set.',
    dashboardTitle: 'Dashboard',
    signOut: 'Sign out',
    countsLabel: 'Accounts by state',
    total: 'Total',
    accounts: 'Accounts',
    refreshAll: 'Refresh all',
    clearAll: 'Clear all',
    clearAllConfirm: 'Remove all {count} accounts from the pool? This cannot be undone.',
    colToken: 'Token',
    colKind: 'Kind',
    colState: 'State',
    colPlan: 'Plan',
    colExpires: 'Expires',
    colLastUsed: 'Last used',
    colFailures: 'Failures',
    colActions: 'Actions',
    never: 'never',
    refresh: 'Refresh',
    restore: 'Restore',
    remove: 'Remove',
    removeAccountConfirm: 'Remove account {masked} from the pool?',
    removeAccountLabel: 'Remove {masked}',
    refreshAccountLabel: 'Refresh {masked}',
    restoreAccountLabel: 'Restore {masked}',
    poolEmpty: 'The pool is empty.',
    poolEmptyHint: 'Add access, refresh or session tokens below; API requests with a pool key draw from them.',
    accountsPages: 'Pages of accounts',
    accountsRange: 'Accounts {first}–{last} of {total}',
    previousPage: 'Previous',
    nextPage: 'Next',
    addTokens: 'Add tokens',
    addTokensHint:
      'One token a line: access tokens (eyJhbGciOi…), refresh tokens or session tokens (the __Secure-next-auth.session-token cookie, or st:<value>), optionally followed by ,account_id (the workspace UUID). Lines starting with # are ignored.',
    loadFile: 'Load a .txt file',
    upload: 'Upload tokens',
    seeds: 'Seeds',
    seedsIntro: 'Seed users share a pool account; each seed stays bound to its account while that account is active.',
    colSeed: 'Seed',
    colAccount: 'Account',
    colConversations: 'Conversations',
    unbound: 'unbound',
    removeSeedConfirm: 'Remove seed {masked}? Its user loses access.',
    removeSeedLabel: 'Remove seed {masked}',
    noSeeds: 'No seeds in use.',
    newSeed: 'New seed (or random)',
    create: 'Create',
    removeAllSeeds: 'Remove all seeds',
    removeAllSeedsConfirm: 'Remove every seed? All seed users lose their accounts until they sign in again.',
    seedToRemove: 'Seed to remove',
    removeThisSeedConfirm: 'Remove this seed? Its user loses access.',
    back: 'Back to the dashboard',
    wrongSecret: 'Wrong admin secret.',
    sessionEnded: 'Your session has ended, so what you last sent was not applied: sign in, then send it again.',
    problemRefused: 'Request refused',
    problemNotFound: 'Not found',
    problemThrottled: 'Too many attempts',
    problemUnavailable: 'Try again shortly',
    problemOther: 'Something is wrong with this request',
  },
  states: { active: 'Active', rate_limited: 'Rate limited', expired: 'Expired', disabled: 'Disabled' },
  kinds: { access_token: 'Access token', refresh_token: 'Refresh token', session_token: 'Session token' },
  /** Relative times: `{count|one|other}` picks the word for the count. */
  time: {
    underAMinute: 'in under a minute',
    justNow: 'just now',
    ahead: 'in {amount}',
    ago: '{amount} ago',
    minutes: '{count} min',
    hours: '{count} h',
    days: '{count} d',
  },
  /** The dashboard's flash messages, named by `Flash.key`. */
  flash: {
    nothingToUpload: 'Nothing to upload: paste one token a line.',
    uploaded: 'Added {added}, {duplicates} {duplicates|duplicate|duplicates}, {invalid} invalid{lines}.',
    uploadedReplacing:
      'Added {added}, put {replaced} expired or disabled {replaced|account|accounts} back in service with {replaced|its|their} new token, {duplicates} {duplicates|duplicate|duplicates}, {invalid} invalid{lines}.',
    invalidLines: ' ({count|line|lines} {lines}{more})',
    moreLines: ', and {count} more',
    removed: 'Removed account {id}.',
    noAccount: 'No account {id}: it may have been removed already.',
    restored: 'Restored account {id} ({state}).',
    refreshed: 'Refreshed account {id}.',
    refreshRejected: 'The refresh token of account {id} was rejected: the account is now disabled.',
    refreshFailed: 'Refreshing account {id} failed; it will be retried. See the server log.',
    nothingToRefresh: 'Account {id} has nothing to refresh (only refresh-token and session-token accounts that are not disabled can be).',
    refreshSummary: 'Refresh: {refreshed} refreshed, {failed} failed, {disabled} disabled, {skipped} skipped.',
    cleared: 'Removed all accounts ({count}).',
    seedReady: 'Seed ready: {seed}. Give it to its user now; it will only be shown masked from here on.',
    seedExisted: 'The seed {seed} already existed: nothing changed.',
    seedRemoved: 'Removed the seed.',
    noSuchSeed: 'No such seed.',
    seedShape: 'A seed must be 8 to 256 visible ASCII characters (letters, digits, punctuation; no spaces).',
    seedIsSecret: 'A seed must not be an access token, a refresh token, a pool key or the admin secret.',
    seedsCleared: 'Removed {count} {count|seed|seeds}.',
    seedToRemoveMissing: 'Type the seed to remove.',
    seedRemovedMasked: 'Removed seed {masked}.',
    noSeedMasked: 'No seed {masked}.',
    refused: '{message}',
  },
};

export type PageText = typeof en;

const zh: PageText = {
  common: {
    switchLanguage: 'English',
    switchLanguageLabel: '切换到英文',
    theme: '主题',
    themeAuto: '自动',
    themeLight: '浅色',
    themeDark: '深色',
    footer: '由 FlowGPT 提供',
  },
  home: {
    title: 'FlowGPT',
    tagline: '呼吸顺畅',
    intro: '用你自己的令牌，或管理员分享给你的种子令牌，在官方网页版中聊天。',
    signIn: '登录',
  },
  signIn: {
    title: '登录',
    heading: '登录',
    intro: '请输入令牌以登录 FlowGPT。',
    tokenLabel: '令牌',
    placeholder: 'Access、Refresh、Session 或种子令牌',
    submit: '登录',
    back: '返回',
    kinds:
      '访问令牌（eyJhbGciOi…）、刷新令牌、会话令牌（chatgpt.com 的 __Secure-next-auth.session-token Cookie），或管理员给你的种子令牌。',
    confirmHeading: '通过此链接登录？',
    confirmIntro: '一个链接请求用令牌 {masked} 登录 FlowGPT。仅当这个链接是你自己打开的时候才登录。',
    cancel: '取消',
  },
  signOut: {
    title: '注销',
    heading: '注销',
    intro: '您确定要退出登录吗？',
    submit: '注销',
    cancel: '取消',
  },
  signedIn: {
    title: '已登录',
    heading: '你已登录',
    unavailable: '此服务器暂未提供聊天界面。',
    signOut: '注销',
  },
  errors: {
    empty: '请输入令牌。',
    unknownShape: '无法识别这个令牌：请粘贴访问令牌（eyJhbGciOi…）、刷新令牌，或不含空格的种子令牌。',
    malformedAccessToken: '这看起来是访问令牌，但无法读取：请确认复制完整。',
    expired: '这个访问令牌已于 {date} 过期。请使用新的访问令牌或刷新令牌登录。',
    refreshRefused: '认证服务器拒绝了这个刷新令牌：它无效、已被吊销或已被使用。',
    authServerDown: '暂时无法连接认证服务器来验证这个刷新令牌，请稍后再试。',
    sessionRefused: 'chatgpt.com 不认识这个会话令牌：它已过期或已退出登录。请从浏览器重新复制。',
    accessRefused: 'chatgpt.com 拒绝了这个访问令牌：它已被吊销或已退出登录，或不是真实的令牌。请重新复制。',
    workspaceUnknown: '这个访问令牌的账号不是逗号后所指工作区的成员。',
    sessionUnavailable: '暂时无法连接 chatgpt.com 来验证这个会话令牌，请稍后再试。',
    seedUnknown: '这个种子令牌不存在。请向管理员索取。',
    seedLimit: '本服务器已不再接受新的种子令牌：数量已达上限。请使用以前用过的种子令牌登录，或向管理员索取。',
    poolEmpty: '目前没有可用的共享账号。请稍后再试或联系管理员。',
    seedTooShort: '种子令牌至少需要 8 个字符，以免与他人重复。',
    poolKey: '这是令牌池的 API 密钥，不能用来在这里登录。请向管理员索取种子令牌。',
    adminKey: '这是管理密钥，不能用来在这里登录。管理页面位于 /admin。',
    apiPrefix: '这是 API 路径前缀，不能用来在这里登录。请向管理员索取种子令牌。',
    unsupported: '这类令牌不能在这里登录。',
    formExpired: '表单已过期并已重新加载，请再次提交。',
    sessionEnded: '你的会话已结束：令牌已过期或已失效。请重新登录。',
    throttled: '你的网络登录尝试过多，请 {minutes} 分钟后再试。',
  },
  admin: {
    brandTag: '管理',
    signInTitle: '登录',
    signInHeading: '登录',
    signInIntro: '输入管理密钥以管理令牌池。',
    secretLabel: '管理密钥',
    signInSubmit: '登录',
    signInHint: '密钥是服务器的 ADMIN_KEY；未设置 ADMIN_KEY 时为 API_PREFIX。',
    dashboardTitle: '管理面板',
    signOut: '退出',
    countsLabel: '各状态账号数',
    total: '总数',
    accounts: '账号',
    refreshAll: '全部刷新',
    clearAll: '全部清空',
    clearAllConfirm: '从令牌池移除全部 {count} 个账号？此操作无法撤销。',
    colToken: '令牌',
    colKind: '类型',
    colState: '状态',
    colPlan: '套餐',
    colExpires: '过期',
    colLastUsed: '上次使用',
    colFailures: '失败',
    colActions: '操作',
    never: '从未',
    refresh: '刷新',
    restore: '恢复',
    remove: '移除',
    removeAccountConfirm: '从令牌池移除账号 {masked}？',
    removeAccountLabel: '移除 {masked}',
    refreshAccountLabel: '刷新 {masked}',
    restoreAccountLabel: '恢复 {masked}',
    poolEmpty: '令牌池是空的。',
    poolEmptyHint: '在下方添加访问令牌、刷新令牌或会话令牌；使用池密钥的 API 请求会从中取用。',
    accountsPages: '账号分页',
    accountsRange: '第 {first}–{last} 个账号，共 {total} 个',
    previousPage: '上一页',
    nextPage: '下一页',
    addTokens: '添加令牌',
    addTokensHint:
      '一行一个令牌：访问令牌（eyJhbGciOi…）、刷新令牌或会话令牌（__Secure-next-auth.session-token Cookie，或 st:<值>），可在后面加 ,account_id（工作区的 UUID）。以 # 开头的行会被忽略。',
    loadFile: '读取 .txt 文件',
    upload: '上传令牌',
    seeds: '种子令牌',
    seedsIntro: '种子用户共享一个池账号；账号可用期间，种子始终绑定在同一个账号上。',
    colSeed: '种子',
    colAccount: '账号',
    colConversations: '对话',
    unbound: '未绑定',
    removeSeedConfirm: '移除种子 {masked}？它的用户将无法再使用。',
    removeSeedLabel: '移除种子 {masked}',
    noSeeds: '暂无使用中的种子。',
    newSeed: '新种子（留空则随机）',
    create: '创建',
    removeAllSeeds: '移除全部种子',
    removeAllSeedsConfirm: '移除全部种子？所有种子用户在重新登录前都会失去账号。',
    seedToRemove: '要移除的种子',
    removeThisSeedConfirm: '移除这个种子？它的用户将无法再使用。',
    back: '返回管理面板',
    wrongSecret: '管理密钥错误。',
    sessionEnded: '会话已结束，刚才提交的操作没有执行：请登录后重新提交。',
    problemRefused: '请求被拒绝',
    problemNotFound: '未找到',
    problemThrottled: '尝试次数过多',
    problemUnavailable: '请稍后重试',
    problemOther: '请求有误',
  },
  states: { active: '可用', rate_limited: '限流中', expired: '已过期', disabled: '已停用' },
  kinds: { access_token: '访问令牌', refresh_token: '刷新令牌', session_token: '会话令牌' },
  time: {
    underAMinute: '不到一分钟后',
    justNow: '刚刚',
    ahead: '{amount}后',
    ago: '{amount}前',
    minutes: '{count} 分钟',
    hours: '{count} 小时',
    days: '{count} 天',
  },
  flash: {
    nothingToUpload: '没有可上传的内容：请每行粘贴一个令牌。',
    uploaded: '已添加 {added} 个，重复 {duplicates} 个，无效 {invalid} 个{lines}。',
    uploadedReplacing:
      '已添加 {added} 个，{replaced} 个已过期或已停用的账号换上新令牌后恢复使用，重复 {duplicates} 个，无效 {invalid} 个{lines}。',
    invalidLines: '（第 {lines} 行{more}）',
    moreLines: '，另有 {count} 行',
    removed: '已移除账号 {id}。',
    noAccount: '没有账号 {id}：它可能已被移除。',
    restored: '已恢复账号 {id}（{state}）。',
    refreshed: '已刷新账号 {id}。',
    refreshRejected: '账号 {id} 的刷新令牌被拒绝：该账号现已停用。',
    refreshFailed: '刷新账号 {id} 失败，稍后会重试。详见服务器日志。',
    nothingToRefresh: '账号 {id} 没有可刷新的内容（只有未停用的刷新令牌和会话令牌账号可以刷新）。',
    refreshSummary: '刷新：成功 {refreshed} 个，失败 {failed} 个，停用 {disabled} 个，跳过 {skipped} 个。',
    cleared: '已移除全部账号（{count} 个）。',
    seedReady: '种子已创建：{seed}。请现在交给它的用户，之后只会显示打码后的种子。',
    seedExisted: '种子 {seed} 已存在，没有任何改动。',
    seedRemoved: '已移除该种子。',
    noSuchSeed: '没有这个种子。',
    seedShape: '种子须为 8 到 256 个可见 ASCII 字符（字母、数字、标点；不含空格）。',
    seedIsSecret: '种子不能是访问令牌、刷新令牌、池密钥或管理密钥。',
    seedsCleared: '已移除 {count} 个种子。',
    seedToRemoveMissing: '请输入要移除的种子。',
    seedRemovedMasked: '已移除种子 {masked}。',
    noSeedMasked: '没有种子 {masked}。',
    refused: '操作未完成：{message}',
  },
};

export const PAGE_TEXT: Record<PageLanguage, PageText> = { en, zh };

/**
 * Fills `{name}` placeholders, and picks `{name|one|other}` by whether `name` is 1 (English plurals); the result
 * is escaped by the template like any other value.
 */
export function fillText(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)(?:\|([^|}]*)\|([^}]*))?\}/g, (whole, name: string, one?: string, other?: string) => {
    if (!(name in values)) return whole;
    if (one === undefined) return String(values[name]);
    return values[name] === 1 ? one : (other ?? '');
  });
}

/**
 * A text of the page in the visitor's language, named by its path in `PageText` (`flash.uploaded`,
 * `states.active`), with its placeholders; a value may itself be such a text. Stored where the language is
 * not known yet (a flash message kept in the session until the next page).
 */
export interface LocalText {
  key: string;
  params?: Record<string, string | number | LocalText>;
}

/**
 * A `LocalText` in `text`'s language; empty for a key that names no text. A flash kept by an earlier release
 * (`{kind, text}`, already worded) is shown as it was worded.
 */
export function localize(local: LocalText, text: PageText): string {
  if (typeof local?.key !== 'string') {
    const worded = (local as { text?: unknown } | undefined)?.text;
    return typeof worded === 'string' ? worded : '';
  }
  const template = local.key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], text);
  if (typeof template !== 'string') return '';
  const values = Object.fromEntries(
    Object.entries(local.params ?? {}).map(([name, value]) => [name, typeof value === 'object' ? localize(value, text) : value]),
  );
  return fillText(template, values);
}
