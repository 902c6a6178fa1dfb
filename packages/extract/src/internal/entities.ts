/**
 * HTML character references for attribute values and titles read by the fast
 * path (the DOM path lets htmlparser2 decode). Numeric references, the XML
 * five, Latin-1 names and the typographic names shops actually use.
 */
const LATIN1 =
  "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml"

const NAMED: Map<string, string> = new Map([
  ["amp", "&"], ["lt", "<"], ["gt", ">"], ["quot", "\""], ["apos", "'"], ["euro", "€"], ["ndash", "–"],
  ["mdash", "—"], ["hellip", "…"], ["lsquo", "‘"], ["rsquo", "’"], ["ldquo", "“"], ["rdquo", "”"], ["trade", "™"],
  ["bull", "•"], ["thinsp", "\u2009"], ["ensp", "\u2002"], ["emsp", "\u2003"], ["zwnj", "\u200c"], ["zwj", "\u200d"],
  ["OElig", "Œ"], ["oelig", "œ"], ["Scaron", "Š"], ["scaron", "š"], ["Zcaron", "Ž"], ["zcaron", "ž"], ["Yuml", "Ÿ"],
  ["dagger", "†"], ["prime", "′"], ["minus", "−"], ["rarr", "→"], ["larr", "←"], ["star", "☆"]
])
LATIN1.split(" ").forEach((name, i) => NAMED.set(name, String.fromCharCode(160 + i)))

const REFERENCE = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));?/g

const fromCodePoint = (cp: number): string =>
  cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? "\ufffd" : String.fromCodePoint(cp)

/** Decodes character references; unknown names are kept as written. */
export const decodeEntities = (text: string): string =>
  text.indexOf("&") === -1
    ? text
    : text.replace(REFERENCE, (whole, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
      if (dec !== undefined) return fromCodePoint(Number.parseInt(dec, 10))
      if (hex !== undefined) return fromCodePoint(Number.parseInt(hex, 16))
      return NAMED.get(name!) ?? whole
    })
