/// How many units one request asks for.
public struct QuantityDesign: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `fixed`, `query` or `body`.
    public var kind: String
    /// For `fixed`: the units one payment buys.
    public var units: Int?
    /// For `query`: the parameter; for `body`: the dotted JSON path.
    public var source: String?
    public var defaultValue: Int?
    public var maximum: Int?

    /// `1`, `?limit ≤ 250 (default 100)`, `body export.records ≤ 100000`.
    public var description: String {
        switch kind {
        case "query", "body":
            let place = kind == "query" ? "?\(source ?? "")" : "body \(source ?? "")"
            return "\(place) ≤ \(maximum ?? 0)" + (defaultValue.map { " (default \($0))" } ?? " (required)")
        default:
            return String(units ?? 1)
        }
    }
}
