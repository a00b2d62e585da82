/// One box of the flow diagram: its place, its wrapped lines, and how it is drawn. Integer
/// coordinates only, so the drawing is the same bytes on every platform.
struct SVGBox {
    enum LineStyle: String {
        case title, body, refusal
    }

    static let lineHeight = 14
    static let padding = 8
    static let charactersPerLine = 43

    var x: Int
    var y: Int
    var width: Int
    var lines: [(String, LineStyle)]
    /// The CSS class of the frame (`owner-gateway`, `panel`, …).
    var style: String

    var height: Int { Self.padding * 2 + lines.count * Self.lineHeight }
    var bottom: Int { y + height }
    var centerX: Int { x + width / 2 }
    var middleY: Int { y + height / 2 }
    var right: Int { x + width }

    init(x: Int, y: Int, width: Int, title: String, body: [String], refusals: [String] = [], style: String) {
        self.x = x
        self.y = y
        self.width = width
        self.style = style
        let characters = max(20, Self.charactersPerLine * width / 290)
        var lines: [(String, LineStyle)] = Self.wrap(title, characters).map { ($0, .title) }
        for text in body { lines += Self.wrap(text, characters).map { ($0, .body) } }
        if !refusals.isEmpty {
            let shown = refusals.prefix(3).joined(separator: ", ") + (refusals.count > 3 ? ", +\(refusals.count - 3) more" : "")
            lines += Self.wrap("✕ " + shown, characters).map { ($0, .refusal) }
        }
        self.lines = lines
    }

    func svg() -> String {
        var out = "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" rx=\"6\" class=\"\(style)\"/>\n"
        for (index, line) in lines.enumerated() {
            let baseline = y + Self.padding + (index + 1) * Self.lineHeight - 3
            out += "<text x=\"\(x + 8)\" y=\"\(baseline)\" class=\"\(line.1.rawValue)\">\(MarkupEscaping.html(line.0))</text>\n"
        }
        return out
    }

    /// Words wrapped at `limit` characters; a longer word is cut.
    static func wrap(_ text: String, _ limit: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            var word = String(word)
            while word.count > limit {
                if !current.isEmpty { lines.append(current); current = "" }
                lines.append(String(word.prefix(limit)))
                word = String(word.dropFirst(limit))
            }
            if current.isEmpty {
                current = word
            } else if current.count + 1 + word.count <= limit {
                current += " " + word
            } else {
                lines.append(current)
                current = word
            }
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }
}
