-- Keep the punctuation after inline math on the math's line. A browser may break a line between inline
-- math (one unbreakable box) and the period, comma or semicolon right after it, which then starts the
-- next line alone. Each inline Math followed by punctuation is wrapped, with that punctuation, in a span
-- that does not break; the rest of the word stays outside it. The span is an inline block: its box is
-- its line's height, as the math's is, not the taller one of the font (which, in a title at the top of
-- a slide, reaches past the slide's edge). (tests/browser_checks.py: raw_math.)
local PUNCTUATION = "^[%.,;:!%?%)%]]+"

function Inlines(inlines)
  local out = pandoc.List()
  local i = 1
  while i <= #inlines do
    local el, after = inlines[i], inlines[i + 1]
    local marks = el.t == "Math" and el.mathtype == "InlineMath" and after and after.t == "Str"
      and after.text:match(PUNCTUATION)
    if marks then
      out:insert(pandoc.Span({ el, pandoc.Str(marks) }, { style = "display: inline-block; white-space: nowrap" }))
      if #after.text > #marks then
        out:insert(pandoc.Str(after.text:sub(#marks + 1)))
      end
      i = i + 2
    else
      out:insert(el)
      i = i + 1
    end
  end
  return out
end
