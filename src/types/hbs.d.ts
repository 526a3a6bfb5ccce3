/** The part of hbs 4 (Express's Handlebars view engine; it ships no types) that the app uses. */
declare module 'hbs' {
  import type Handlebars from 'handlebars';

  const hbs: {
    handlebars: typeof Handlebars;
    registerHelper: typeof Handlebars.registerHelper;
    registerPartial: typeof Handlebars.registerPartial;
    /** The Express view engine function. */
    __express(path: string, options: object, callback: (error: Error | null, html?: string) => void): void;
  };
  export default hbs;
}
