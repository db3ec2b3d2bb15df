// Seeded generator of the differential test's input strings. Deterministic for a given seed: the
// same strings on every machine, so a mismatch can be reproduced from its index alone.
//
// It mixes scripts, CJK, emoji with modifiers and ZWJ sequences, runs of spaces/tabs/newlines, CRLF,
// digit runs (ASCII and other Unicode digits), contractions in any case, special tokens inside text,
// NBSP and other Unicode spaces, and combining marks (including sequences that NFC recomposes).
//
// Left out on purpose: U+0085 (NEL) and U+FEFF (BOM) after a space. The reference engine's GPT-2
// ByteLevel pre-tokenizer uses JavaScript's native \s, which excludes U+0085 and includes U+FEFF,
// while Oniguruma (the Rust crate's engine, and the JS port's own translated Split regexes) uses
// Unicode White_Space. The C++ tokenizer follows the Rust crate; test_tokenizer pins that case.

// mulberry32: small, fast and good enough to drive the choices.
function makeRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "hello", "world",
  "compression", "context", "prompt", "soft", "vector", "model", "learning", "rate", "gradient",
  "internationalization", "antidisestablishmentarianism", "naïve", "café", "résumé", "Zürich",
  "São", "Paulo", "München", "straße", "Ελλάδα", "Москва", "東京", "北京", "서울", "القاهرة",
  "ירושלים", "मुंबई", "กรุงเทพ", "Ἀθῆναι", "ŁÓDŹ", "İstanbul", "ǅemal", "ﬁnance", "Ⅻ",
];
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
const CONTRACTION_STEMS = ["it", "don", "we", "they", "I", "you", "she", "can", "won", "Y"];
const SCRIPTS = [
  "Привет, как дела?", "Καλημέρα κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
  "สวัสดีชาวโลก", "안녕하세요 세계", "こんにちは世界", "カタカナとひらがな", "ᏣᎳᎩ", "ქართული",
  "Հայերեն", "አማርኛ", "தமிழ்", "বাংলা", "ગુજરાતી", "ಕನ್ನಡ", "Tiếng Việt", "Ελληνικά", "ខ្មែរ",
];
const CJK = [
  "中文分词测试", "繁體中文與簡體中文", "日本語の文章です", "漢字仮名交じり文", "한국어 문장입니다",
  "人工智能与机器学习", "〇一二三四五", "『引用』「括弧」", "全角ＡＢＣ１２３", "㍻㌢㍍",
];
const EMOJI_BASES = ["👋", "👍", "🙏", "🧑", "👩", "👨", "💪", "🤝", "✋", "🏃"];
const SKIN_TONES = ["\u{1F3FB}", "\u{1F3FC}", "\u{1F3FD}", "\u{1F3FE}", "\u{1F3FF}"];
const EMOJI_SEQUENCES = [
  "👨\u200D👩\u200D👧\u200D👦", "🏳\uFE0F\u200D🌈", "❤\uFE0F", "✨", "🇯🇵", "🇩🇪🇫🇷", "1\uFE0F\u20E3",
  "🧑\u200D💻", "👩🏽\u200D🚀", "😀😃😄", "🤖", "🫠", "☕", "⚡\uFE0F", "🦀",
];
const UNICODE_SPACES = [
  "\u00A0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006",
  "\u2007", "\u2008", "\u2009", "\u200A", "\u202F", "\u205F", "\u3000", "\u2028",
  "\u2029", "\u000B", "\u000C",
];
const WHITESPACE = [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", " \t ", "\t\t", "\n \n"];
const UNICODE_DIGITS = ["٠١٢٣٤٥٦٧٨٩", "۱۲۳", "१२३४", "১২৩", "１２３４", "²³", "½¾", "Ⅷ", "𝟙𝟚𝟛", "๓๔๕"];
const COMBINING = [
  "e\u0301", "a\u0308", "n\u0303", "A\u030A", "o\u0302\u0301", "c\u0327", "\u1100\u1161\u11A8",
  "\u1112\u1161\u11AB", "क\u093C", "Z\u0351\u0356\u0334", "i\u0307", "u\u0308\u0301", "\u0627\u0653",
];
const PUNCTUATION = [
  "...", "?!", "—", "–", "«quote»", "\u201Csmart\u201D", "(parens)", "[brackets]", "{braces}",
  "foo(bar) => {x: 1};", "https://example.com/path?q=1&r=2", "user@example.org", "#hashtag",
  "@mention", "$12.50", "100%", "a/b\\c", "<html>", "x**2 + y**2", "C++", "--flag=value", ";;",
];
const SPECIAL_TOKENS = [
  "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
  "<s>", "</s>", "<unk>", "<|endoftext|><|endoftext|>", "<s><s>", "<|im_start|>user\n",
];

function pick(random, list) {
  return list[Math.floor(random() * list.length)];
}

function randomCase(random, text) {
  return Array.from(text)
    .map((c) => (random() < 0.5 ? c.toUpperCase() : c.toLowerCase()))
    .join("");
}

function digitRun(random) {
  const length = 1 + Math.floor(random() * 14);
  let digits = "";
  for (let i = 0; i < length; i++) digits += String(Math.floor(random() * 10));
  return digits;
}

function fragment(random) {
  switch (Math.floor(random() * 13)) {
    case 0: {
      const word = pick(random, WORDS);
      return random() < 0.3 ? word.toUpperCase() : random() < 0.5 ? word[0].toUpperCase() + word.slice(1) : word;
    }
    case 1:
      return randomCase(random, pick(random, CONTRACTION_STEMS) + pick(random, CONTRACTIONS));
    case 2:
      return pick(random, SCRIPTS);
    case 3:
      return pick(random, CJK);
    case 4:
      return random() < 0.5 ? pick(random, EMOJI_BASES) + pick(random, SKIN_TONES) : pick(random, EMOJI_SEQUENCES);
    case 5: {
      let run = "";
      const count = 1 + Math.floor(random() * 4);
      for (let i = 0; i < count; i++) run += pick(random, WHITESPACE);
      return run;
    }
    case 6:
      return random() < 0.6 ? digitRun(random) : pick(random, UNICODE_DIGITS);
    case 7:
      return pick(random, SPECIAL_TOKENS);
    case 8:
      return pick(random, UNICODE_SPACES) + (random() < 0.5 ? pick(random, WORDS) : "");
    case 9:
      return pick(random, COMBINING);
    case 10:
      return pick(random, PUNCTUATION);
    case 11:
      return "\r\n".repeat(1 + Math.floor(random() * 3));
    default:
      return " ".repeat(1 + Math.floor(random() * 6)) + pick(random, WORDS);
  }
}

// Hand-picked edge cases first, so that each category is covered whatever the seed.
const FIXED_CASES = [
  "", " ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n \n ", "Hello world", " Hello world", "Hello  world  ",
  "IT'S WE'LL THEY'RE I'M YOU'VE SHE'D CAN'T", "it's we'll they're i'm you've she'd can't",
  "It'S wE'lL ThEy'Re", "'s 't 're", "don't stop", "12345678901234567890", "3.14159 and 2,718",
  "٣٤٥ and १२३ and １２３", "\u00A0nbsp\u00A0between\u00A0words\u00A0", "ideographic\u3000space",
  "thin\u2009space and hair\u200Aspace", "e\u0301cole vs école", "\u1100\u1161\u11A8 vs 각",
  "👋🏽 wave 👨\u200D👩\u200D👧 family 🇯🇵 flag", "line one\r\nline two\r\n\r\nline four",
  "tabs\tand\t\tmore\t\t\ttabs", "<|endoftext|>", "text<|endoftext|>more", "<s>Hello</s>",
  " <s> spaced </s> ", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>",
  "<tool_call>{\"name\": \"f\"}</tool_call>", "<unk><unk>", "中文English混合text", "Zalgo Z\u0351\u0356\u0334a",
  "    indented code\n        more indented\n", "end with spaces   ", "trailing newline\n",
  "\u2028line separator\u2029paragraph separator", "soft\u00ADhyphen", "zero\u200Bwidth\u200Cjoiner\u200D",
  "\uFEFFbyte order mark at the start", "line\u2028separator", "ﬁ ligature and ǅ titlecase", "İstanbul ß ẞ",
];

export function generateStrings(seed, count) {
  const random = makeRandom(seed);
  const strings = FIXED_CASES.slice(0, count);
  while (strings.length < count) {
    const parts = 1 + Math.floor(random() * 10);
    let text = "";
    for (let i = 0; i < parts; i++) {
      text += fragment(random);
      if (random() < 0.5) text += pick(random, [" ", "", "\n", " "]);
    }
    strings.push(text);
  }
  return strings;
}

export const DEFAULT_SEED = 20240521;
export const DEFAULT_COUNT = 400;
