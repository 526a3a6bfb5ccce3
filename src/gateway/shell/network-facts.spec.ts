import { withContextFields, withVisitorNetworkFacts } from './network-facts';

/** A page whose context says where the server that fetched it is, the way the live page does. */
function page(context: unknown[], more = ''): string {
  const enqueue = JSON.stringify(`${JSON.stringify(context)}\n${more}`);
  return `<html><body><div hidden id="S:0"><script>window.__reactRouterContext.streamController.enqueue(${enqueue});</script></div></body></html>`;
}

/** The flat context of the first enqueue call in `html`, with its references followed one level. */
function clientBootstrapOf(html: string): Record<string, unknown> {
  const literal = /streamController\.enqueue\(("(?:[^"\\]|\\.)*")\)/.exec(html)![1];
  const values = JSON.parse((JSON.parse(literal) as string).split('\n')[0]) as unknown[];
  const bootstrap = values[values.indexOf('clientBootstrap') + 1] as Record<string, number>;
  return Object.fromEntries(Object.entries(bootstrap).map(([key, index]) => [values[Number(key.slice(1))], values[index]]));
}

const CONTEXT = [
  { _1: 2 },
  'clientBootstrap',
  { _3: 4, _5: 6, _7: 8, _9: 10, _11: 12 },
  'authStatus',
  'logged_in',
  'cfConnectingIp',
  '203.0.113.77',
  'cfIpCity',
  'Frankfurt am Main',
  'cfIpLatitude',
  '50.11',
  'userRegion',
  'logged_in', // a value shared with another field: theirs stays
];

describe('withVisitorNetworkFacts', () => {
  it('shows the visitor their own address and no place, and leaves every other field as it was', () => {
    const html = withVisitorNetworkFacts(page(CONTEXT), '198.51.100.4');
    expect(html).not.toContain('203.0.113.77');
    expect(html).not.toContain('Frankfurt');
    expect(html).not.toContain('50.11');
    expect(clientBootstrapOf(html)).toEqual({
      authStatus: 'logged_in',
      cfConnectingIp: '198.51.100.4',
      cfIpCity: '',
      cfIpLatitude: '',
      userRegion: '',
    });
  });

  it('keeps the other lines of the stream, and escapes what could end the script', () => {
    const html = withVisitorNetworkFacts(page(CONTEXT, 'P12:["</script><!--"]\n'), undefined);
    expect(html).toContain('P12:');
    expect(html).not.toContain('</script><!--');
    const literal = /streamController\.enqueue\(("(?:[^"\\]|\\.)*")\)/.exec(html)![1];
    expect((JSON.parse(literal) as string).split('\n')[1]).toBe('P12:["</script><!--"]');
    expect(clientBootstrapOf(html).cfConnectingIp).toBe('');
  });

  it('returns a page without those fields, or with a stream it cannot read, unchanged', () => {
    const plain = page([{ _1: 2 }, 'authStatus', 'logged_out']);
    expect(withVisitorNetworkFacts(plain, '198.51.100.4')).toBe(plain);
    const unreadable = '<script>streamController.enqueue("[cfConnectingIp not json")</script>';
    expect(withVisitorNetworkFacts(unreadable, '198.51.100.4')).toBe(unreadable);
  });
});

describe('withContextFields', () => {
  it('replaces the named fields at any depth, leaving a value another field shares to it', () => {
    const context = [{ _1: 2 }, 'session', { _3: 4 }, 'account', { _5: 6, _7: 6 }, 'planType', 'plus', 'label'];
    const literal = /streamController\.enqueue\(("(?:[^"\\]|\\.)*")\)/.exec(withContextFields(page(context), { planType: 'free' }))![1];
    const values = JSON.parse((JSON.parse(literal) as string).split('\n')[0]) as unknown[];
    const account = values[4] as Record<string, number>;
    expect(values[account._5]).toBe('free');
    expect(values[account._7]).toBe('plus');
  });
});
