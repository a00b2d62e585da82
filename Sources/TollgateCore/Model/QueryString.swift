import Foundation

/// The query of a request target, as the upstream will read it: `name=value` pairs split on `&`,
/// percent-decoded, `+` as a space. One parser for everything that reads the query (action scopes,
/// quantity rules), so a name the gateway checks is the name the upstream sees.
enum QueryString {
    static func items(_ target: String) -> [(name: String, value: String)] {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return [] }
        return target[target.index(after: mark)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decoded(parts[0]), parts.count > 1 ? decoded(parts[1]) : "")
        }
    }

    private static func decoded(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
