import { growthRatio, LINEAR_GROWTH_LIMIT } from './growth';

describe('growthRatio', () => {
  it('tells quadratic work from linear work', () => {
    // Written, never read: a variable outside the loops, so that the compiler cannot drop their work.
    let _sink = 0;
    const quadratic = (size: number) => {
      for (let i = 0; i < size; i += 1) for (let j = 0; j < size; j += 1) _sink ^= i * j;
    };
    const linear = (size: number) => {
      for (let i = 0; i < size * 500; i += 1) _sink ^= i;
    };
    const quadraticRatio = growthRatio(quadratic, 500);
    const linearRatio = growthRatio(linear, 500);
    expect(quadraticRatio).toBeGreaterThan(LINEAR_GROWTH_LIMIT);
    expect(linearRatio).toBeLessThanOrEqual(LINEAR_GROWTH_LIMIT);
  });
});
