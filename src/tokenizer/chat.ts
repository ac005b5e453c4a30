// Chat templates rendered as transformers' `apply_chat_template(..., tokenize=False)` renders them:
// the same Jinja source, the same variables, so prompts here match prompts in Python token for token.
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { CHAT_TEMPLATE_FILE, TOKENIZER_CONFIG_FILE, TextTokenizer, TokenizerError, type NamedChatTemplate } from './tokenizer.js';

/** One conversation turn; extra fields (reasoning_content, tool_calls, ...) reach the template as-is. */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Append the assistant header so the model's next tokens are its reply. */
  addGenerationPrompt?: boolean;
  /** Qwen3's switch: false renders an empty <think></think> block so the model answers directly. */
  enableThinking?: boolean;
  /** Tool JSON schemas, rendered by templates that support tools. */
  tools?: readonly object[];
  /** Picks one template of a multi-template list (e.g. "tool_use"); see transformers' `chat_template` argument. */
  templateName?: string;
  /** Further template variables (transformers' **kwargs); they override special tokens but not the variables above. */
  extra?: Record<string, unknown>;
}

// Parsing is the costly part; templates are few, so keep every parsed one.
const parsedTemplates = new Map<string, Template>();

function parse(source: string, where: string): Template {
  let template = parsedTemplates.get(source);
  if (!template) {
    try {
      template = new Template(source);
    } catch (error) {
      throw new TokenizerError(`${where}: chat template does not parse: ${(error as Error).message}`);
    }
    parsedTemplates.set(source, template);
  }
  return template;
}

// transformers' rule for a list of named templates: the requested name, else "tool_use" when tools are given, else "default".
function selectTemplate(templates: string | NamedChatTemplate[], options: ChatTemplateOptions, where: string): string {
  if (typeof templates === 'string') return templates;
  const byName = new Map(templates.map((t) => [t.name, t.template]));
  const name = options.templateName ?? (options.tools !== undefined && byName.has('tool_use') ? 'tool_use' : 'default');
  const template = byName.get(name);
  if (template === undefined) {
    throw new TokenizerError(`${where}: no chat template named '${name}' (available: ${[...byName.keys()].join(', ')})`);
  }
  return template;
}

/**
 * Renders `messages` into the prompt text. `source` is a tokenizer (its chat template and special
 * tokens are used) or a template's Jinja source (pass special tokens through `extra`).
 */
export function applyChatTemplate(source: TextTokenizer | string, messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
  const { addGenerationPrompt = true, enableThinking = true, tools, extra = {} } = options;
  let templates: string | NamedChatTemplate[];
  let specialTokens: Readonly<Record<string, string | string[]>> = {};
  let where = 'template source';
  if (source instanceof TextTokenizer) {
    where = source.source === null ? TOKENIZER_CONFIG_FILE : join(source.source, TOKENIZER_CONFIG_FILE);
    if (source.chatTemplate === null) {
      throw new TokenizerError(`${where} has no chat_template (nor is there a ${CHAT_TEMPLATE_FILE}); pass a template's source instead, or use a prompt format that needs none`);
    }
    templates = source.chatTemplate;
    specialTokens = source.specialTokensMap;
  } else {
    templates = source;
  }
  messages.forEach((message, i) => {
    if (typeof message !== 'object' || message === null || typeof message.role !== 'string') {
      throw new TypeError(`messages[${i}] must be an object with a string 'role'`);
    }
  });

  const template = parse(selectTemplate(templates, options, where), where);
  try {
    return template.render({
      ...specialTokens,
      enable_thinking: enableThinking,
      ...extra,
      messages,
      // transformers passes None, not "undefined": templates test `tools is not none`.
      tools: tools ?? null,
      documents: null,
      add_generation_prompt: addGenerationPrompt,
    });
  } catch (error) {
    throw new TokenizerError(`${where}: chat template failed to render: ${(error as Error).message}`);
  }
}
