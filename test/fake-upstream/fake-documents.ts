import { createHash, randomUUID } from 'node:crypto';
import type { AccountIdentity, Persona } from './fake-tokens';

/** Static-looking documents of the fake upstream: home page, models, profile, account check, GPTs. */

export const BUILD_ID = 'prod-0749372c57dc2f5a1c6aa5f4f9802a682aebf139';
/** The web app's build number, which the page carries beside its build id (`oai-client-build-number`). */
export const BUILD_NUMBER = '3141592';

export function homePage(): string {
  const chunk = (name: string) => `https://cdn.oaistatic.com/_next/static/chunks/c/${BUILD_ID}/_/${name}.js`;
  return [
    '<!DOCTYPE html>',
    `<html lang="en-US" data-build="${BUILD_ID}" data-build-number="${BUILD_NUMBER}" data-seq="1" class="light" style="color-scheme:light">`,
    '<head><meta charset="utf-8"><title>ChatGPT</title>',
    `<script src="${chunk('app-3f1c2b9a7d')}" async=""></script>`,
    `<script src="${chunk('webpack-9e8d7c6b5a')}" async=""></script>`,
    '</head>',
    '<body><div id="__next"></div>',
    '<script src="https://cdn.oaistatic.com/assets/manifest-5c1d2e3f.js"></script>',
    '</body></html>',
  ].join('\n');
}

export function cloudflareChallengePage(): string {
  return [
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>',
    '<meta http-equiv="refresh" content="390"></head><body>',
    '<div class="main-wrapper" role="main"><h1>chatgpt.com</h1><p>Verifying you are human. This may take a few seconds.</p></div>',
    "<script>(function(){window._cf_chl_opt={cvId: '3',cZone: 'chatgpt.com',cType: 'managed',cRay: '8f0c1a2b3c4d5e6f',cH: 'x1y2z3'};",
    "var cpo=document.createElement('script');cpo.src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f0c1a2b3c4d5e6f';",
    "document.getElementsByTagName('head')[0].appendChild(cpo);}());</script></body></html>",
  ].join('\n');
}

interface ModelEntry {
  slug: string;
  title: string;
  maxTokens: number;
  category: string;
  categoryName: string;
  paidOnly: boolean;
  tags?: string[];
}

const MODELS: ModelEntry[] = [
  { slug: 'auto', title: 'Auto', maxTokens: 8191, category: 'auto', categoryName: 'Auto', paidOnly: false },
  { slug: 'gpt-4o', title: 'GPT-4o', maxTokens: 8191, category: 'gpt_4o', categoryName: 'GPT-4o', paidOnly: false },
  { slug: 'gpt-4o-mini', title: 'GPT-4o mini', maxTokens: 8191, category: 'gpt_4o_mini', categoryName: 'GPT-4o mini', paidOnly: false },
  { slug: 'o1', title: 'o1', maxTokens: 32767, category: 'o1', categoryName: 'o1', paidOnly: true, tags: ['reasoning'] },
  {
    slug: 'o3-mini',
    title: 'o3-mini',
    maxTokens: 32767,
    category: 'o3_mini',
    categoryName: 'o3-mini',
    paidOnly: false,
    tags: ['reasoning'],
  },
  { slug: 'gpt-5', title: 'GPT-5', maxTokens: 32767, category: 'gpt_5', categoryName: 'GPT-5', paidOnly: false },
  {
    slug: 'o4-mini',
    title: 'o4-mini',
    maxTokens: 32767,
    category: 'o4_mini',
    categoryName: 'o4-mini',
    paidOnly: false,
    tags: ['reasoning'],
  },
  { slug: 'gpt-4-5', title: 'GPT-4.5', maxTokens: 32767, category: 'gpt_4_5', categoryName: 'GPT-4.5', paidOnly: true },
  {
    slug: 'gpt-4o-canmore',
    title: 'GPT-4o with canvas',
    maxTokens: 8191,
    category: 'gpt_4o_canmore',
    categoryName: 'GPT-4o with canvas',
    paidOnly: true,
  },
];

export function modelsDocument(persona: Persona | 'chatgpt-noauth'): Record<string, unknown> {
  const visible = MODELS.filter((m) => persona === 'chatgpt-paid' || !m.paidOnly);
  return {
    models: visible.map((m) => ({
      slug: m.slug,
      max_tokens: m.maxTokens,
      title: m.title,
      description: `${m.title} model`,
      tags: m.tags ?? [],
      capabilities: {},
      product_features: {},
      enabled_tools: m.slug.startsWith('o') ? [] : ['tools', 'tools2'],
    })),
    categories: visible.map((m) => ({
      category: m.category,
      human_category_name: m.categoryName,
      subscription_level: m.paidOnly ? 'plus' : 'free',
      default_model: m.slug,
      code_interpreter_model: m.slug,
      plugins_model: m.slug,
    })),
    default_model_slug: 'auto',
  };
}

export function meDocument(identity: AccountIdentity): Record<string, unknown> {
  const local = identity.email.split('@')[0];
  const hash = createHash('md5').update(identity.email.trim().toLowerCase()).digest('hex');
  const initials = local.slice(0, 2).toLowerCase();
  return {
    object: 'user',
    id: identity.userId,
    email: identity.email,
    name: local,
    picture: `https://s.gravatar.com/avatar/${hash}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F${initials}.png`,
    created: 1_700_000_000,
    phone_number: identity.phone ?? null,
    mfa_flag_enabled: false,
    amr: [],
    groups: [],
    orgs: {
      object: 'list',
      data: [
        {
          object: 'organization',
          id: `org-${createHash('sha1').update(identity.userId).digest('base64url').slice(0, 24)}`,
          created: 1_700_000_000,
          title: 'Personal',
          name: `user-${identity.userId.slice(5, 29).toLowerCase()}`,
          description: `Personal org for ${identity.email}`,
          personal: true,
          settings: { threads_ui_visibility: 'NONE', usage_dashboard_visibility: 'ANY_ROLE', disable_user_api_keys: false },
          parent_org_id: null,
          is_default: true,
          role: 'owner',
          is_scale_tier_authorized_purchaser: null,
          is_scim_managed: false,
          projects: { object: 'list', data: [] },
          groups: [],
          geography: null,
        },
      ],
    },
    has_payg_project_spend_limit: true,
  };
}

const FEATURES = [
  'beta_features',
  'browsing_available',
  'canvas',
  'code_interpreter_available',
  'dalle_3',
  'gizmo_canvas_toggle',
  'mfa',
  'model_switcher',
  'plugins_available',
  'search_tool',
  'sentinel_enabled_for_subscription',
  'shareable_links',
];

function accountEntry(identity: AccountIdentity, accountId: string, structure: 'personal' | 'workspace', plan: string) {
  const paid = plan !== 'free';
  return {
    account: {
      account_user_id: `${identity.userId}__${accountId}`,
      processor: { a001: { has_customer_object: paid }, b001: { has_transaction_history: paid } },
      account_id: accountId,
      organization_id: structure === 'workspace' ? `org-${accountId.replace(/-/g, '').slice(0, 24)}` : null,
      is_most_recent_expired_subscription_gratis: false,
      has_previously_paid_subscription: paid,
      name: structure === 'workspace' ? 'Fake Team' : null,
      profile_picture_id: null,
      profile_picture_url: null,
      structure,
      plan_type: plan,
      is_deactivated: false,
      promo_data: {},
    },
    features: FEATURES,
    entitlement: {
      subscription_id: paid ? randomUUID() : null,
      has_active_subscription: paid,
      subscription_plan: paid ? `chatgpt${plan}plan` : 'chatgptfreeplan',
      expires_at: paid ? '2099-01-01T00:00:00+00:00' : null,
      billing_period: paid ? 'monthly' : null,
    },
    last_active_subscription: { subscription_id: null, purchase_origin_platform: 'chatgpt_web', will_renew: paid },
    is_eligible_for_yearly_plus_subscription: false,
  };
}

export function accountsCheckDocument(identity: AccountIdentity): Record<string, unknown> {
  const accounts: Record<string, unknown> = {
    [identity.accountId]: accountEntry(identity, identity.accountId, 'personal', identity.plan),
  };
  for (const teamId of identity.teamAccountIds) accounts[teamId] = accountEntry(identity, teamId, 'workspace', 'team');
  return { accounts, account_ordering: [identity.accountId, ...identity.teamAccountIds] };
}

export function gizmoDocument(id: string, name: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    gizmo: {
      id,
      organization_id: 'org-gizmo-author',
      short_url: `${id}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      author: { user_id: 'user-gizmo-author', display_name: 'Fake Author', link_to: null, selected_display: 'name', is_verified: true },
      voice: { id: 'ember' },
      workspace_id: null,
      model: null,
      instructions: null,
      settings: {},
      display: {
        name,
        description: `${name} answers questions.`,
        prompt_starters: ['What can you do?'],
        profile_picture_url: 'https://files.oaiusercontent.com/file-gizmo-picture',
        categories: ['productivity'],
      },
      share_recipient: 'marketplace',
      created_at: now,
      updated_at: now,
      last_interacted_at: null,
      tags: ['public', 'reportable'],
      version: 1,
      live_version: 1,
      training_disabled: null,
      allowed_sharing_recipients: ['private', 'link', 'marketplace'],
      review_info: null,
      appeal_info: null,
      vanity_metrics: { num_conversations: null, num_conversations_str: '1K+', created_ago_str: '1 year ago', review_stats: null },
      workspace_approval_date: null,
      workspace_approved: null,
      sharing_targets: [],
      gizmo_type: 'gpt',
      context_stuffing_budget: null,
    },
    tools: [{ id: 'gzm_cnf_browser', type: 'browser', settings: null, metadata: null }],
    files: [],
    product_features: {
      attachments: {
        type: 'retrieval',
        accepted_mime_types: ['text/plain', 'application/pdf'],
        image_mime_types: ['image/png', 'image/jpeg'],
      },
    },
  };
}
