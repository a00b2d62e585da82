import Foundation

/// The ledger as a file: every column, one purchase per row (CSV, RFC 4180 quoting) or per array element (JSON).
public enum LedgerExport {
    public static let columns = ["id", "created_at", "state", "method", "url", "host", "tool", "network", "asset", "symbol", "decimals", "payee",
                                 "amount", "price", "payer", "x402_version", "nonce", "valid_before", "attempts", "status", "correlation_id",
                                 "transaction", "reason", "receipt", "said_used_at", "may_have_moved_at"]

    public static func csv(_ purchases: [Purchase]) -> String {
        var text = columns.joined(separator: ",") + "\r\n"
        for purchase in purchases {
            text += values(purchase).map(quote).joined(separator: ",") + "\r\n"
        }
        return text
    }

    public static func json(_ purchases: [Purchase]) throws -> String {
        let rows = purchases.map { Dictionary(uniqueKeysWithValues: zip(columns, values($0))) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(rows), as: UTF8.self) + "\n"
    }

    /// The proof itself is not exported: until it expires it is a bearer authorization.
    static func values(_ purchase: Purchase) -> [String] {
        let created = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(purchase.createdAtMillis) / 1000))
        return [purchase.id, created, purchase.state.rawValue, purchase.method, purchase.url, purchase.host, purchase.tool ?? "", purchase.network,
                purchase.asset, purchase.symbol, String(purchase.decimals), purchase.payee, purchase.amount, purchase.price, purchase.payer,
                String(purchase.x402Version), purchase.nonce, String(purchase.validBefore), String(purchase.attempts),
                purchase.status.map(String.init) ?? "", purchase.correlationId ?? "", purchase.transaction ?? "", purchase.reason ?? "",
                purchase.receipt ?? "",
                timestamp(purchase.saidUsedAtMillis), timestamp(purchase.mayHaveMovedAtMillis)]
    }

    static func timestamp(_ millis: Int64?) -> String {
        millis.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0) / 1000)) } ?? ""
    }

    /// RFC 4180 quoting; a value a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first: a
    /// server writes the `reason`) is prefixed with `'`.
    static func quote(_ value: String) -> String {
        var value = value
        if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
