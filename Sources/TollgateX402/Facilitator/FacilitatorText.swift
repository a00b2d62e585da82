import Foundation

/// A facilitator's free text (`invalidMessage`, `errorMessage`) as the gateway passes it on: to the paying client in the
/// 402's detail and the receipt, to the audit log. Facilitators fill it with whatever their exception said (the x402
/// Python SDK writes `str(e)`), which names the chain node they called, a hosted node's API key in its path or query
/// included, and has no bound on its length. Every URL is cut to its scheme, host and port, control characters become
/// spaces, and the text is cut at `maxCharacters`.
public enum FacilitatorText {
    /// The most characters of a facilitator's text kept: enough for any reason a person reads, not a log's worth.
    public static let maxCharacters = 240

    /// `text` fit to be shown (nil stays nil).
    public static func shown(_ text: String?) -> String? {
        guard let text else { return nil }
        var kept = ""
        var rest = Substring(text)
        while let start = Self.urlStart(in: rest) {
            kept += rest[..<start]
            let end = rest[start...].firstIndex(where: Self.endsURL) ?? rest.endIndex
            kept += EVMChainReader.shown(String(rest[start..<end]))
            rest = rest[end...]
            if kept.count > maxCharacters { break }
        }
        kept += rest
        let visible = String(kept.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
        return visible.count > maxCharacters ? String(visible.prefix(maxCharacters)) + "…" : visible
    }

    /// Where the first URL (a scheme of letters, `://`) begins in `text`.
    private static func urlStart(in text: Substring) -> Substring.Index? {
        guard let separator = text.range(of: "://") else { return nil }
        var start = separator.lowerBound
        while start > text.startIndex, case let before = text.index(before: start), text[before].isLetter || text[before] == "+" {
            start = before
        }
        // "://" with no scheme before it is no URL: kept as text, and the search goes on after it.
        guard start < separator.lowerBound else {
            return urlStart(in: text[separator.upperBound...])
        }
        return start
    }

    private static func endsURL(_ character: Character) -> Bool {
        character.isWhitespace || "\"'<>()[]{},`".contains(character)
    }
}
