//! Quoting what users typed inside the bot's messages, shown as typed.

/// `text` with Discord's markdown characters escaped and line breaks turned into spaces, so
/// that a quoted prompt reads as one line of plain text: no bold, strikethrough, spoilers,
/// headings, links or quotes of its own.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '-' | '[' | ']' | '<' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_in_a_prompt_is_shown_as_typed() {
        assert_eq!(escape_markdown("a **bold** cat"), r"a \*\*bold\*\* cat");
        assert_eq!(
            escape_markdown("||spoiler|| ~~x~~ `code`"),
            r"\|\|spoiler\|\| \~\~x\~\~ \`code\`"
        );
        assert_eq!(
            escape_markdown("# big\n- item\n> quote"),
            r"\# big \- item \> quote"
        );
        assert_eq!(escape_markdown("[x](https://e.x)"), r"\[x\](https\://e.x)");
        assert_eq!(
            escape_markdown("<@123> snake_case"),
            r"\<@123\> snake\_case"
        );
        assert_eq!(escape_markdown("a cat, sleeping"), "a cat, sleeping");
    }
}
