import HTTPTypes

/// The 402 of one route, at one price, for one reason, with one set of payable rails, rendered once with the values of a
/// request left as holes: the correlation id, the client, the resource URL, the expiry, the offer tokens, and on a
/// refusal the fresh offer's correlation id and the refusal's own detail. Each 402 then copies the invariant bytes and
/// writes only its own values.
///
/// The template is learnt, not written by hand: the terms are rendered through the rails with a marker in each hole, and
/// the marker is found again in the header values (as they are, or inside standard base64 of JSON, as x402 writes
/// `PAYMENT-REQUIRED`) and in the body. Before use, the template and the renderer are given the same sample values,
/// which need escaping and differ from the markers in everything a rail might write directly (request line, expiry in
/// seconds): one byte of difference and there is no template (`make` returns nil), so a rail that renders a hole in
/// any other way is rendered whole on every request, as before.
final class TermsTemplate: Sendable {
    /// What one 402 states of its own.
    struct Values {
        /// The flow the 402 names (`Tollgate-Correlation-Id`, the body's `correlationId`, the offer's claims).
        var correlationId: String
        var client: String
        var resourceURL: String
        /// RFC 3339, as the body states it.
        var expiresAt: String
        /// Set when the 402 refuses a proof: the flow its fresh offer starts.
        var offerCorrelationId: String? = nil
        /// A detail of the refusal's own; nil for the standard one of its reason.
        var detail: String? = nil
        /// One per offer, in the order of the offers.
        var tokens: [String]

        /// In hole order: correlation id, client, resource URL, expiry, offer correlation id, detail, then the tokens.
        var all: [String] { [correlationId, client, resourceURL, expiresAt, offerCorrelationId ?? "", detail ?? ""] + tokens }
        static let fixedHoles = 6
    }

    /// Bytes with holes: `literals[0]`, the value of `holes[0]`, `literals[1]`, …, `literals[holes.count]`.
    struct Holed: Sendable, Equatable {
        var literals: [[UInt8]]
        var holes: [Int]
        /// Values in JSON strings are escaped as `JSONWriter` escapes them; plain values are copied.
        var escapesJSON: Bool

        var literalCount: Int { literals.reduce(0) { $0 + $1.count } }

        func fill(_ values: [String]) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(literalCount + holes.reduce(0) { $0 + values[$1].utf8.count } + 16)
            for index in holes.indices {
                bytes.append(contentsOf: literals[index])
                if escapesJSON {
                    JSONWriter.appendEscaped(values[holes[index]], to: &bytes)
                } else {
                    bytes.append(contentsOf: values[holes[index]].utf8)
                }
            }
            bytes.append(contentsOf: literals[holes.count])
            return bytes
        }

        /// Splits `bytes` at each `marker` + hole number + `~`; nil when a marker is not followed by a known hole.
        init?(_ bytes: [UInt8], marker: [UInt8], holeCount: Int, escapesJSON: Bool) {
            var literals: [[UInt8]] = []
            var holes: [Int] = []
            var literalStart = 0
            var index = 0
            while index + marker.count <= bytes.count {
                guard bytes[index] == marker[0], bytes[index..<index + marker.count].elementsEqual(marker) else {
                    index += 1
                    continue
                }
                var end = index + marker.count
                var number = 0
                while end < bytes.count, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9"), number < holeCount {
                    number = number * 10 + Int(bytes[end] - UInt8(ascii: "0"))
                    end += 1
                }
                guard end > index + marker.count, end < bytes.count, bytes[end] == UInt8(ascii: "~"), number < holeCount else { return nil }
                literals.append(Array(bytes[literalStart..<index]))
                holes.append(number)
                index = end + 1
                literalStart = index
            }
            literals.append(Array(bytes[literalStart...]))
            self.literals = literals
            self.holes = holes
            self.escapesJSON = escapesJSON
        }
    }

    /// A header field of the 402.
    enum Field: Sendable, Equatable {
        case constant(HTTPField)
        /// The value with holes, as it is.
        case plain(HTTPField.Name, Holed)
        /// Standard base64 of JSON with holes (x402's `PAYMENT-REQUIRED`).
        case base64JSON(HTTPField.Name, Holed)
    }

    let fields: [Field]
    let body: Holed
    let tokenCount: Int

    private init(fields: [Field], body: Holed, tokenCount: Int) {
        self.fields = fields
        self.body = body
        self.tokenCount = tokenCount
    }

    /// The header fields and the body of a 402 with these values.
    func render(_ values: Values) -> (fields: HTTPFields, body: [UInt8]) {
        let all = values.all
        var fields = HTTPFields()
        for field in self.fields {
            switch field {
            case .constant(let field):
                fields.append(field)
            case .plain(let name, let holed):
                fields.append(HTTPField(name: name, value: String(decoding: holed.fill(all), as: UTF8.self)))
            case .base64JSON(let name, let holed):
                fields.append(HTTPField(name: name, value: Base64URL.encodeStandard(holed.fill(all))))
            }
        }
        return (fields, body.fill(all))
    }

    /// Learns the template of `render` (the direct renderer, given the values and a seed that stands for everything else
    /// a request could put in its offers) for terms shaped like `values` (as many tokens; an offer correlation id and a
    /// detail, or not); nil when it renders any value in a way the template would not.
    static func make(shapedLike values: Values, render: (Values, _ seed: Int64) -> (fields: HTTPFields, body: [UInt8])) -> TermsTemplate? {
        var generator = SystemRandomNumberGenerator()
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        let marker = "~~" + String(decoding: (0..<16).map { _ in letters[Int(generator.next() % 26)] }, as: UTF8.self) + "~"
        let tokenCount = values.tokens.count
        let holeCount = Values.fixedHoles + tokenCount
        let markers = (0..<holeCount).map { "\(marker)\($0)~" }
        let markerBytes = Array(marker.utf8)
        let marked = render(Values(correlationId: markers[0], client: markers[1], resourceURL: markers[2], expiresAt: markers[3],
                                   offerCorrelationId: values.offerCorrelationId.map { _ in markers[4] }, detail: values.detail.map { _ in markers[5] },
                                   tokens: Array(markers[Values.fixedHoles...])), 1)

        var fields: [Field] = []
        for field in marked.fields {
            let value = Array(field.value.utf8)
            guard let plain = Holed(value, marker: markerBytes, holeCount: holeCount, escapesJSON: false) else { return nil }
            if !plain.holes.isEmpty {
                fields.append(.plain(field.name, plain))
            } else if let json = Base64URL.decodeEitherAlphabet(field.value), Base64URL.encodeStandard(json) == field.value,
                      let holed = Holed(json, marker: markerBytes, holeCount: holeCount, escapesJSON: true), !holed.holes.isEmpty {
                fields.append(.base64JSON(field.name, holed))
            } else {
                fields.append(.constant(field))
            }
        }
        guard let body = Holed(marked.body, marker: markerBytes, holeCount: holeCount, escapesJSON: true) else { return nil }
        let template = TermsTemplate(fields: fields, body: body, tokenCount: tokenCount)

        // Two sets of values, each with another seed: ones that need escaping in JSON and mix letter cases, and empty or
        // long ones with the control characters JSON coders spell differently (`\b`, `\f`), U+2028 and `<>`. A renderer
        // that transforms, truncates, drops or escapes a value another way differs on one of them.
        let samples = [
            Values(correlationId: "Sample-\"Correlation\"\\Id", client: "Client É/\u{1}\t", resourceURL: "http://Sample/A?b=\"C\"&d=\\e",
                   expiresAt: "2001-02-03T04:05:06Z", offerCorrelationId: values.offerCorrelationId.map { _ in "Next \"Flow\"" },
                   detail: values.detail.map { _ in "A Detail: \"quoted\"\n\\ é" }, tokens: (0..<tokenCount).map { "Tok\($0).\u{7f}\"\\/" }),
            Values(correlationId: "", client: String(repeating: "c\u{8}\u{c}\u{1f}\u{2028}<>", count: 40), resourceURL: "",
                   expiresAt: String(repeating: "9", count: 300), offerCorrelationId: values.offerCorrelationId.map { _ in "" },
                   detail: values.detail.map { _ in String(repeating: "d<\u{2028}>\u{8}", count: 80) },
                   tokens: (0..<tokenCount).map { $0 == 0 ? "" : String(repeating: "T\($0)", count: 150) }),
        ]
        for (index, sample) in samples.enumerated() {
            let direct = render(sample, 2 + Int64(index))
            let filled = template.render(sample)
            guard Array(direct.fields) == Array(filled.fields), direct.body == filled.body else { return nil }
        }
        return template
    }
}
