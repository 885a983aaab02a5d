/**
 * `@alruCache` on class methods (TC39 standard decorators): one cache per
 * instance, or per class for static methods, held so that it never keeps
 * its instance alive.
 *
 * @module
 */

import {
  type CachedFunction,
  createCachedFunction,
} from "./cached_function.ts";
import { describe } from "./errors.ts";
import type { ResolvedOptions } from "./options.ts";

/** What a decorated method turns into, as TypeScript sees it. */
export type CachedMethod<This, A extends unknown[], R> = (
  this: This,
  ...args: A
) => Promise<Awaited<R>>;

/**
 * A decorator for methods, as `@alruCache(options)` returns it. It is a TC39
 * standard decorator: called as a legacy one (TypeScript's
 * `experimentalDecorators`), it throws a `TypeError`.
 *
 * @typeParam V What the options' callbacks (`ttl`, `shouldCache`) take as
 * the value: the method must resolve to it.
 */
export type AlruCacheDecorator<V = unknown> = <
  This,
  A extends unknown[],
  R extends V | PromiseLike<V>,
>(
  method: (this: This, ...args: A) => R,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
) => CachedMethod<This, A, R>;

// What a property descriptor has at least one of.
const DESCRIPTOR_KEYS = [
  "value",
  "get",
  "set",
  "writable",
  "configurable",
  "enumerable",
];

/**
 * Whether `args` are what a legacy decorator receives (TypeScript's
 * `experimentalDecorators`, or Babel's legacy mode): the prototype, or the
 * class for a static member, the member's key, and its property descriptor,
 * which legacy property decorators get as `undefined`. TC39 decorators and
 * `alruCache(fn, options)` take two arguments, so never look like this.
 */
export function isLegacyDecoratorCall(args: ArrayLike<unknown>): boolean {
  if (args.length !== 3) return false;
  const target = args[0];
  const key = args[1];
  const descriptor = args[2];
  if (
    typeof target !== "function" &&
    (typeof target !== "object" || target === null)
  ) return false;
  if (typeof key !== "string" && typeof key !== "symbol") return false;
  if (descriptor === undefined) return true;
  return typeof descriptor === "object" && descriptor !== null &&
    DESCRIPTOR_KEYS.some((name) => name in descriptor);
}

/**
 * The error for a legacy decorator call (see {@linkcode isLegacyDecoratorCall})
 * of `form`, the decorator as written, naming the member it was applied to.
 */
export function legacyDecoratorError(
  form: string,
  args: ArrayLike<unknown>,
): TypeError {
  const target = args[0] as object;
  const descriptor = args[2] as object | undefined;
  const kind = descriptor === undefined || "initializer" in descriptor
    ? "property"
    : "get" in descriptor || "set" in descriptor
    ? "accessor"
    : "method";
  const isStatic = typeof target === "function";
  const owner: unknown = isStatic
    ? target
    : Object.getOwnPropertyDescriptor(target, "constructor")?.value;
  const className = typeof owner === "function" && owner.name
    ? ` of class ${owner.name}`
    : "";
  const member = `${isStatic ? "static " : ""}${kind} ${
    String(args[1])
  }${className}`;
  return new TypeError(
    `${form} was called as a legacy decorator (TypeScript's experimentalDecorators) on ${member}, but alruCache needs TC39 standard decorators. Remove "experimentalDecorators" from compilerOptions in tsconfig.json (or deno.json), or wrap the function with alruCache(fn, options) instead.`,
  );
}

/** Whether `value` is the context object a TC39 decorator receives. */
export function isDecoratorContext(
  value: unknown,
): value is DecoratorContext {
  return typeof value === "object" && value !== null &&
    typeof (value as DecoratorContext).kind === "string" &&
    typeof (value as ClassMethodDecoratorContext).addInitializer ===
      "function";
}

function describeMember(context: DecoratorContext): string {
  const name = context.name === undefined ? "(anonymous)" : String(
    context.name,
  );
  return context.kind === "class" ? `class ${name}` : `${context.kind} ${name}`;
}

function unsupported(context: DecoratorContext): TypeError {
  const member = describeMember(context);
  switch (context.kind) {
    case "method":
      return new TypeError(
        `@alruCache cannot decorate private ${member}: its cache could not be reached through the instance. Make the method public (TypeScript's \`private\` keyword is fine), or wrap a function with alruCache(fn, options) and keep it in a private field.`,
      );
    case "field":
      return new TypeError(
        `@alruCache cannot decorate ${member}. Initialise the field with alruCache(fn, options) instead, or make it a method.`,
      );
    case "getter":
    case "setter":
    case "accessor":
      return new TypeError(
        `@alruCache cannot decorate ${member}. Decorate a method instead, and call it from the ${context.kind} if needed.`,
      );
    default:
      return new TypeError(
        `@alruCache cannot decorate ${member}. Decorate its methods instead.`,
      );
  }
}

// Whether `value` can be a receiver: only objects and functions can key the
// WeakMaps that hold the caches.
function isObject(value: unknown): value is object {
  return typeof value === "function" ||
    (typeof value === "object" && value !== null);
}

// Whether `value` is a class's prototype object (`C.prototype`, for any class
// C): the object a method is read from to be called on other objects.
function isClassPrototype(value: object): boolean {
  const constructor = Object.getOwnPropertyDescriptor(value, "constructor")
    ?.value;
  return typeof constructor === "function" && constructor.prototype === value;
}

/**
 * Turns `method` into a cached method. Each receiver (an instance, or the
 * class for a static method) gets its own cache on first use. The member
 * becomes an accessor on the object that defines it, so that
 * `obj.method` is a per-receiver function carrying its cache's methods.
 * Read from a class prototype, it is the unbound method, which uses the
 * cache of whatever `this` it is called on.
 */
export function decorateMethod<This, A extends unknown[], R>(
  method: (this: This, ...args: A) => R,
  context: DecoratorContext,
  options: ResolvedOptions,
): CachedMethod<This, A, R> {
  if (context.kind !== "method" || context.private) throw unsupported(context);
  const name = context.name;
  if (
    options.store !== undefined && options.key === undefined && !context.static
  ) {
    // The store's keys come from the arguments alone: every instance would
    // share every other's entries.
    throw new TypeError(
      `@alruCache with a store needs a "key" option for ${
        String(name)
      }: it receives the instance as this, so that instances do not share entries across processes`,
    );
  }
  // Weak keys: a receiver's cache lives exactly as long as the receiver.
  type PerReceiver = CachedFunction<A, Awaited<R>, typeof method>;
  const perReceiver = new WeakMap<object, PerReceiver>();

  // A prototype called on directly (`C.prototype.method(1)`) gets a cache
  // too, kept here so that reading the member from it never finds that cache.
  let prototypeCaches: WeakMap<object, PerReceiver> | undefined;
  const isInstanceMember = !context.static;

  const cachedFor = (receiver: object): PerReceiver => {
    let cached = perReceiver.get(receiver) ?? prototypeCaches?.get(receiver);
    if (cached === undefined) {
      cached = createCachedFunction<A, Awaited<R>, typeof method>(method, {
        options,
        receiver,
      });
      if (isInstanceMember && isClassPrototype(receiver)) {
        (prototypeCaches ??= new WeakMap()).set(receiver, cached);
      } else {
        perReceiver.set(receiver, cached);
      }
    }
    return cached;
  };

  // Called with no object, as `C.prototype.method.call(undefined)` or a
  // detached reference is, there is no cache to use. Every call of a cached
  // function answers with a promise, so this misuse rejects too.
  const noReceiver = (receiver: unknown): TypeError => {
    const access = typeof name === "symbol" ? `[${String(name)}]` : `.${name}`;
    const advice = context.static
      ? `its class, whose cache it uses; it was called on ${
        describe(receiver)
      }. Call it as Class${access}(...), or bind it to the class first.`
      : `an instance (an object), whose cache it uses; it was called on ${
        describe(receiver)
      }. Call it as obj${access}(...), or bind it to an instance first.`;
    return new TypeError(
      `@alruCache ${context.static ? "static " : ""}method ${
        String(name)
      } must be called on ${advice}`,
    );
  };

  // Called as a plain method (before the accessor is installed, or through
  // a reference taken from a prototype), it still uses `this`'s cache.
  const replacement = function (this: This, ...args: A): Promise<Awaited<R>> {
    if (!isObject(this)) return Promise.reject(noReceiver(this));
    return cachedFor(this)(...args);
  };
  // Read from a prototype, it stands for the method itself.
  Object.defineProperties(replacement, {
    name: { value: method.name, configurable: true },
    length: { value: method.length, configurable: true },
  });

  // A class prototype, and a subclass's, holds the member for other objects
  // to call (spies read it there and call it on instances), so reading it
  // there gives `replacement`, not a function bound to the prototype. A
  // class is itself the receiver of its static methods.
  const read = function (this: unknown): unknown {
    // The getter taken off its descriptor and called with no object has no
    // cache to give. Throwing here would break the rule that a call only
    // ever rejects, so it gives the plain method, which rejects when called.
    if (!isObject(this)) return replacement;
    const cached = perReceiver.get(this);
    if (cached !== undefined) return cached;
    return isInstanceMember && isClassPrototype(this)
      ? replacement
      : cachedFor(this);
  };

  let installed = false;
  context.addInitializer(function (this: unknown) {
    if (installed) return;
    // Find the object that defines the member: the class itself for a
    // static method, a prototype on the instance's chain otherwise.
    for (
      let holder = this as object | null;
      holder !== null;
      holder = Object.getPrototypeOf(holder)
    ) {
      const descriptor = Object.getOwnPropertyDescriptor(holder, name);
      if (descriptor === undefined) continue;
      if (descriptor.value === replacement) {
        Object.defineProperty(holder, name, {
          get: read,
          set(this: object, value: unknown) {
            Object.defineProperty(this, name, {
              value,
              writable: true,
              configurable: true,
              enumerable: false,
            });
          },
          configurable: true,
          enumerable: descriptor.enumerable,
        });
        installed = true;
      }
      return;
    }
  });
  return replacement;
}
