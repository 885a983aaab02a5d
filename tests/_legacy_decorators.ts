/**
 * Classes decorated with `@alruCache`, for a process that compiles them with
 * TypeScript's legacy `experimentalDecorators`: run as a script, it defines
 * each class and prints one line per class, `name: message` of the error
 * defining it threw, or `name: defined`. Not part of the published module.
 */
import { alruCache } from "../mod.ts";

/** Each class's name, and a function that defines it. */
export const decoratedClasses: [string, () => unknown][] = [
  ["method", () => {
    class Users {
      @alruCache
      async byId(id: number): Promise<number> {
        return await Promise.resolve(id);
      }
    }
    return Users;
  }],
  ["static method", () => {
    class Users {
      @alruCache
      static async count(): Promise<number> {
        return await Promise.resolve(1);
      }
    }
    return Users;
  }],
  ["method, with options", () => {
    class Users {
      @alruCache({ maxSize: 2 })
      async byName(name: string): Promise<string> {
        return await Promise.resolve(name);
      }
    }
    return Users;
  }],
  ["method, with no options", () => {
    class Users {
      @alruCache()
      async all(): Promise<number> {
        return await Promise.resolve(1);
      }
    }
    return Users;
  }],
];

if (import.meta.main) {
  for (const [name, define] of decoratedClasses) {
    try {
      define();
      console.log(`${name}: defined`);
    } catch (error) {
      console.log(`${name}: ${(error as Error).message}`);
    }
  }
}
