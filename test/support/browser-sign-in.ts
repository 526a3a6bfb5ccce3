import request from 'supertest';

/** A browser signed in through the real sign-in form: its session cookie and the stand-in token the web app gets. */
export interface SignedInBrowser {
  /** `flowgpt-session=…`, for a `Cookie` header. */
  cookie: string;
  /** What `/api/auth/session` gives the web app as its `accessToken`. */
  standIn: string;
  bearer: { authorization: string };
}

function cookiePair(response: request.Response, name: string): string {
  const header = response.headers['set-cookie'] as unknown as string[] | string | undefined;
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const line = lines.find((candidate) => candidate.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} cookie in ${JSON.stringify(lines)}`);
  return line.split(';')[0];
}

/**
 * Signs in as a browser does with the real AuthModule: GET the form (its cookie and CSRF field), POST the token
 * from our own origin, keep the session cookie, then read the stand-in token from `/api/auth/session`.
 */
export async function signInThroughForm(url: string, token: string): Promise<SignedInBrowser> {
  const form = await request(url).get('/auth/login').expect(200);
  const csrf = /name="_csrf" value="([^"]*)"/.exec(form.text)?.[1];
  if (!csrf) throw new Error('no _csrf field on the sign-in page');
  const posted = await request(url)
    .post('/auth/login')
    .set('Cookie', cookiePair(form, 'flowgpt-sign-in'))
    .set('Origin', url)
    .type('form')
    .send({ _csrf: csrf, token, next: '/' });
  if (posted.status !== 303) throw new Error(`sign-in refused (${posted.status}): ${/data-reason="(\w+)"/.exec(posted.text)?.[1]}`);
  const cookie = cookiePair(posted, 'flowgpt-session');
  const session = await request(url).get('/api/auth/session').set('Cookie', cookie).expect(200);
  const standIn = String(session.body.accessToken ?? '');
  if (!standIn) throw new Error('the session has no stand-in token');
  return { cookie, standIn, bearer: { authorization: `Bearer ${standIn}` } };
}
