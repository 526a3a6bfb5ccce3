import { imageSizeRuleFor } from './image-sizes';

describe('imageSizeRuleFor', () => {
  it.each([
    ['dall-e-2', ['256x256', '512x512', '1024x1024'], ['1792x1024', 'auto', '99999x99999']],
    ['dall-e-3', ['1024x1024', '1792x1024', '1024x1792'], ['512x512', '1536x1024', 'auto', '99999x99999']],
    ['gpt-image-1', ['1024x1024', '1536x1024', '1024x1536', 'auto'], ['1792x1024', '512x512', '99999x99999']],
    ['chatgpt-image-latest', ['1536x1024', 'auto'], ['1024x1792']],
    [
      'gpt-image-2',
      ['auto', '1024x1024', '1536x864', '3840x2160', '2160x3840', '768x2304'],
      ['1000x1000', '3856x2160', '4096x2160', '768x2320', '0x16', '99999x99999'],
    ],
    ['gpt-4o', ['1024x1024', 'auto'], ['99999x99999']],
  ])('%s accepts what OpenAI accepts', (model, accepted, refused) => {
    const rule = imageSizeRuleFor(model);
    for (const size of accepted) expect([size, rule.accepts(size)]).toEqual([size, true]);
    for (const size of refused) expect([size, rule.accepts(size)]).toEqual([size, false]);
  });

  it("lists the accepted values as OpenAI's message does", () => {
    expect(imageSizeRuleFor('dall-e-3').supported).toBe("'1024x1024', '1792x1024', and '1024x1792'");
    expect(imageSizeRuleFor('gpt-image-1').supported).toBe("'1024x1024', '1536x1024', '1024x1536', and 'auto'");
  });
});
