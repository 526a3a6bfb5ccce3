import { resolveModel } from './model-mapping';

describe('resolveModel', () => {
  it.each([
    ['gpt-4o', 'gpt-4o'],
    ['gpt-4o-mini', 'gpt-4o-mini'],
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['o1-preview', 'o1-preview'],
    ['o1', 'o1'],
    ['o1-mini', 'o1-mini'],
    ['o3-mini-high', 'o3-mini-high'],
    ['o3-mini', 'o3-mini'],
    ['gpt-4', 'gpt-4'],
    ['gpt-4-turbo', 'gpt-4'],
    ['gpt-3.5-turbo', 'text-davinci-002-render-sha'],
    ['auto', 'auto'],
    ['claude-3', 'gpt-4o'],
  ])('maps %s to the upstream slug %s (longest key wins)', (requested, slug) => {
    expect(resolveModel(requested).slug).toBe(slug);
  });

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
