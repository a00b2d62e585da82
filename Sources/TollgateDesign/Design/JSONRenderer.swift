import Foundation

/// The report as JSON: `DesignReport` encoded with sorted keys, two-space indentation and a final
/// newline (the schema is described in docs/design.md).
public enum JSONRenderer {
    public static func render(_ report: DesignReport) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Encoding plain structs of strings, numbers and arrays cannot fail.
        let data = (try? encoder.encode(report)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Reads a report back (for tools and tests).
    public static func parse(_ text: String) throws -> DesignReport {
        try JSONDecoder().decode(DesignReport.self, from: Data(text.utf8))
    }
}
