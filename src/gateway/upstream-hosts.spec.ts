import { AppConfig } from '../config/app-config';
import { UpstreamHosts } from './upstream-hosts';

const ORIGIN = { origin: 'https://gw.example.test', scheme: 'https' as const, host: 'gw.example.test', fromRequest: false };

function hostsWith(overrides: Partial<AppConfig>): UpstreamHosts {
  return new UpstreamHosts(Object.assign(new AppConfig(), { chatgptBaseUrl: ['https://chatgpt.com'], ...overrides }));
}

describe('UpstreamHosts: voice (gateway.md §5.3, §5.7 rows 8 and 10)', () => {
  it('routes voice previews to PERSISTENT_BASE_URL, the production host by default', () => {
    expect(hostsWith({}).base('persistent')).toBe('https://persistent.oaistatic.com');
    expect(hostsWith({ persistentBaseUrl: 'http://127.0.0.1:9/' }).base('persistent')).toBe('http://127.0.0.1:9');
  });

  it('maps voice previews onto our origin, and the WebRTC host onto VOICE_HOST only when it is set', () => {
    const body = 'a=https://persistent.oaistatic.com/voice/previews/x.mp3 b=wss://webrtc.chatgpt.com/v1/realtime';
    expect(hostsWith({}).hostRewriter(ORIGIN).apply(body).text).toBe(
      'a=https://gw.example.test/voice/previews/x.mp3 b=wss://webrtc.chatgpt.com/v1/realtime',
    );
    expect(hostsWith({ voiceHost: 'relay.example.test:444' }).hostRewriter(ORIGIN).apply(body).text).toBe(
      'a=https://gw.example.test/voice/previews/x.mp3 b=wss://relay.example.test:444/v1/realtime',
    );
  });
});
