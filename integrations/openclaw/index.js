// @ts-check
/**
 * sidekey's OpenClaw plugin: registers `/auth` (a command that OpenClaw answers without the
 * model, and lists in Telegram's command menu with `commands.native`). The daemon's address and
 * API key come from the plugin's config or the gateway's environment ([`resolveTarget`]), read
 * at each command, so a changed config or a rotated key needs no restart. Install and use:
 * docs/openclaw-setup.md, "`/auth` in OpenClaw".
 */

import { auth, failureText } from "./src/auth.js";
import { resolveTarget } from "./src/daemon.js";

export const DESCRIPTION = "sidekey sign-ins: /auth lists accounts, /auth NAME signs in, /auth NAME status";

/** The plugin entry OpenClaw loads (`package.json` `openclaw.extensions`). */
export default {
  id: "sidekey",
  name: "sidekey",
  description: "/auth: sidekey's accounts and sign-ins, answered by the sidekey daemon without the model.",
  /** @param {any} api OpenClaw's plugin API */
  register(api) {
    api.registerCommand({
      name: "auth",
      description: DESCRIPTION,
      acceptsArgs: true,
      // Only senders OpenClaw authorizes (its allowlists and pairing) may run it.
      requireAuth: true,
      /** @param {{args?: string}} ctx */
      handler: async (ctx) => ({ text: await reply(ctx.args, api.pluginConfig, process.env) }),
    });
  },
};

/**
 * The text `/auth ARGS` answers with; never throws.
 * @param {string | undefined} args
 * @param {Record<string, unknown> | undefined} config
 * @param {Record<string, string | undefined>} env
 */
export async function reply(args, config, env) {
  try {
    return await auth(args, () => resolveTarget(config, env));
  } catch (e) {
    return failureText(e);
  }
}
