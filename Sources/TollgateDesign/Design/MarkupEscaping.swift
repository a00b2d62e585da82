import Foundation

/// Escaping for the text the renderers write: every value from a configuration passes through here.
public enum MarkupEscaping {
    /// Text for HTML and SVG (XML) content and attribute values.
    public static func html(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default:
                // Control characters other than tab and newline are not allowed in XML 1.0.
                if let scalar = character.unicodeScalars.first, character.unicodeScalars.count == 1, scalar.value < 0x20,
                   scalar != "\t", scalar != "\n" {
                    result += " "
                } else {
                    result.append(character)
                }
            }
        }
        return result
    }

    /// Text for one Markdown table cell: pipes escaped, line breaks flattened, HTML-looking text neutralised.
    public static func cell(_ text: String) -> String {
        inline(text).replacingOccurrences(of: "|", with: "\\|")
    }

    /// Text for Markdown prose: line breaks flattened, angle brackets escaped so nothing renders as HTML,
    /// except inside code spans (`…`), which never render HTML and would show an entity literally.
    public static func inline(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        let parts = flat.split(separator: "`", omittingEmptySubsequences: false)
        // An odd number of backticks leaves a span open: then nothing is treated as code.
        let balanced = parts.count % 2 == 1
        return parts.enumerated().map { index, part in
            balanced && index % 2 == 1 ? String(part)
                : part.replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }.joined(separator: "`")
    }

    /// Text inside a fenced code block: a line of backticks cannot close the fence early.
    public static func code(_ text: String) -> String {
        text.replacingOccurrences(of: "```", with: "ʼʼʼ").replacingOccurrences(of: "\r", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
    }
}
