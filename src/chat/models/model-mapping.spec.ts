import { hasGizmoPrefix, isGizmoName, resolveModel } from './model-mapping';

describe('resolveModel', () => {
  it.each([
    ['gpt-4o', 'gpt-4o'],
    ['gpt-4o-mini', 'gpt-4o-mini'],
    ['o1-preview', 'o1-preview'],
    ['o1', 'o1'],
    ['o1-mini', 'o1-mini'],
    ['o3-mini-high', 'o3-mini-high'],
    ['o3-mini', 'o3-mini'],
    ['gpt-4', 'gpt-4'],
    ['gpt-4-turbo', 'gpt-4'],
    ['chatgpt-4o-latest', 'gpt-4o'],
    ['gpt-4.5-preview', 'gpt-4-5'],
    ['gpt-4.1-mini', 'gpt-4-1-mini'],
    ['gpt-3.5-turbo', 'text-davinci-002-render-sha'],
    ['auto', 'auto'],
  ])('maps the API name %s to the upstream slug %s', (requested, slug) => {
    expect(resolveModel(requested).slug).toBe(slug);
  });

  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-1106-preview', 'gpt-4'],
    ['gpt-4-turbo-2024-04-09', 'gpt-4'],
    ['gpt-3.5-turbo-0125', 'text-davinci-002-render-sha'],
    ['gpt-5-2025-08-07', 'gpt-5'],
  ])('maps the dated snapshot %s to %s', (requested, slug) => {
    expect(resolveModel(requested).slug).toBe(slug);
  });

  it.each(['o4-mini', 'o4-mini-high', 'gpt-5', 'gpt-5-thinking', 'gpt-5-t-mini', 'gpt-4-5', 'gpt-4-1', 'o3-pro', 'gpt-4o-jawbone'])(
    'sends the upstream slug %s unchanged, never a table key found inside it',
    (slug) => {
      expect(resolveModel(slug).slug).toBe(slug);
      expect(resolveModel(slug).paidOnly).toBe(false);
    },
  );

  it.each(['claude-3', 'deepseek-r1', 'my-model', 'gpt-5.9-ultra', 'dall-e-3', 'not-gpt-4o', 'constructor', ''])(
    'gives the unknown name %p the default model',
    (requested) => {
      expect(resolveModel(requested).slug).toBe('gpt-4o');
    },
  );

  it('echoes the requested name unchanged, with no invented system fingerprint', () => {
    for (const name of ['gpt-4o-mini', 'gpt-3.5-turbo', 'gpt-4o', 'my-model']) {
      const resolved = resolveModel(name);
      expect(resolved.echoed).toBe(name);
      expect(resolved).not.toHaveProperty('systemFingerprint');
    }
  });

  it('recognises GPTs only in the gizmo forms', () => {
    expect(resolveModel('gpt-4-gizmo-g-abc123').gizmoId).toBe('g-abc123');
    expect(resolveModel('gizmo-g-xyz_9').gizmoId).toBe('g-xyz_9');
    expect(resolveModel('g-abc123').gizmoId).toBe('g-abc123');
    expect(resolveModel('some-g-model').gizmoId).toBeUndefined();
  });

  it('tells a malformed GPT name by its prefix, so that no listed model is looked for under it', () => {
    for (const name of ['gizmo-g-', 'gizmo-g-a.b', 'gpt-4-gizmo-g-a b', 'g-!']) {
      expect([name, hasGizmoPrefix(name), isGizmoName(name)]).toEqual([name, true, false]);
    }
    for (const name of ['gpt-4o', 'some-g-model', 'gpt-4-gizmo']) expect([name, hasGizmoPrefix(name)]).toEqual([name, false]);
  });

  it.each([
    ['gizmo-g-o1XyZ', 'gpt-4o'],
    ['gizmo-g-auto4Q', 'gpt-4o'],
    ['gizmo-g-Hgpt-4Q', 'gpt-4o'],
    ['g-o3-mini9', 'gpt-4o'],
    ['gpt-4-gizmo-g-o1XyZ', 'gpt-4'],
  ])('takes the model of %s from its prefix, never from letters of the GPT id (%s)', (requested, slug) => {
    expect(resolveModel(requested).slug).toBe(slug);
  });

  it('marks paid-only slugs', () => {
    expect(resolveModel('gpt-4').paidOnly).toBe(true);
    expect(resolveModel('o1-preview').paidOnly).toBe(true);
    expect(resolveModel('gpt-4o').paidOnly).toBe(false);
  });
});
