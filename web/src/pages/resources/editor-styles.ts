// CodeMirror themes itself through style-mod, which on a document writes a <style> element: the
// dashboard's CSP (style-src 'self', no 'unsafe-inline') blocks that. Here the same rules go
// into one constructed stylesheet adopted by the document (CSSOM, which the CSP allows), kept
// in style-mod's order. Shadow roots keep style-mod's own path (it adopts sheets there already).
import { StyleModule } from 'style-mod';

const sheet = new CSSStyleSheet();
const modules: StyleModule[] = [];
const mountOriginal = StyleModule.mount.bind(StyleModule);

StyleModule.mount = (root, given, options) => {
  if (!(root instanceof Document)) return mountOriginal(root, given, options);
  const list = Array.isArray(given) ? (given as readonly StyleModule[]) : [given as StyleModule];
  let changed = false;
  let j = 0;
  for (const mod of list) {
    let index = modules.indexOf(mod);
    if (index > -1 && index < j) {
      // Ordering conflict: the module moves to where this mount wants it.
      modules.splice(index, 1);
      j--;
      index = -1;
    }
    if (index === -1) {
      modules.splice(j++, 0, mod);
      changed = true;
    } else {
      j = index + 1;
    }
  }
  if (changed) sheet.replaceSync(modules.map((m) => m.getRules()).join('\n'));
  if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [sheet, ...root.adoptedStyleSheets];
};
