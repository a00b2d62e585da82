/// What one unit of billing is (question 3).
public enum InitUnit: String, Sendable, Hashable, CaseIterable {
    /// A request (an API call, a tool call).
    case request
    /// A record delivered.
    case record
    /// A file: one price per file, usage counted in bytes.
    case file
    /// A second of work.
    case second
    /// A minute of work: billed per second at a sixtieth of the price.
    case minute
    /// A prepaid package of requests.
    case package

    static let aliases = ["call": "request", "calls": "request", "requests": "request", "records": "record", "row": "record",
                          "rows": "record", "byte": "file", "bytes": "file", "files": "file", "seconds": "second",
                          "minutes": "minute", "packages": "package"]

    /// The configuration's `unit` (docs/configuration.md, "Metering").
    var configurationUnit: String {
        switch self {
        case .request, .package: "request"
        case .record: "record"
        case .file: "byte"
        case .second, .minute: "second"
        }
    }

    /// For sentences: "per request", "per file".
    var noun: String { self == .package ? "package" : rawValue }
}
