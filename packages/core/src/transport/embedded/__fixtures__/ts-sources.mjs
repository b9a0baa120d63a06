// Imported first by the child processes of the crash tests: they run the TypeScript sources directly (Node
// strips the types), and this hook maps the sources' `.js` import specifiers to the `.ts` files next to them.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw error;
    }
  },
});
