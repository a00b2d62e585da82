import HTTPTypes
import Foundation
import TollgateConfiguration
import TollgateCore
import TollgateX402

/// The checks one answer must pass on its own, shared by the interview, the flags and the answers file.
/// Each returns the normalised value or throws the reason, phrased for the person answering.
public enum InitCheck {
    /// Any text but an empty one (a description, a directory, a database path), trimmed.
    public static func nonEmpty(_ text: String, field: String, what: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else { throw .invalid(field, "\(what) cannot be empty") }
        return value
    }

    /// A media type (`application/json`), as given.
    public static func mimeType(_ value: String, field: String) throws(InitAnswerError) -> String {
        guard value.contains("/"), !value.contains(" ") else { throw .invalid(field, "\"\(value)\" is not a media type like application/json") }
        return value
    }

    /// A resource id or client id: letters, digits, `.`, `_`, `-`; at most 64 characters.
    public static func identifier(_ text: String, field: String, what: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else { throw .invalid(field, "\(what) cannot be empty") }
        guard value.count <= 64, value.unicodeScalars.allSatisfy({ isIdentifierCharacter($0) }), value.first != "-" else {
            throw .invalid(field, "\(what) \"\(value)\" may only use letters, digits, '.', '_' and '-' (at most 64)")
        }
        return value
    }

    /// An http(s) URL with a host.
    public static func url(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard ConfigurationLoader.isHTTPURL(value), URL(string: value)?.host?.isEmpty == false else {
            throw .invalid(field, "\"\(value)\" is not an http(s) URL with a host, e.g. http://127.0.0.1:8403")
        }
        return value
    }

    /// A route path pattern (docs/configuration.md, `routes.path`).
    public static func pathPattern(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard value.hasPrefix("/"), PathPattern(value) != nil, !value.contains(" "), !value.contains("?") else {
            throw .invalid(field, "\"\(value)\" is not a path pattern: it starts with /, e.g. /datasets/* (no query)")
        }
        return value
    }

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// An HTTP method, or `*` for any.
    public static func method(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces).uppercased()
        if value == "*" || value == "ANY" { return "*" }
        guard methods.contains(value) else {
            throw .invalid(field, "\"\(text)\" is not an HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, or * for any)")
        }
        return value
    }

    /// A positive decimal amount of a token with `decimals` decimals ("0.01").
    public static func price(_ text: String, decimals: Int = 6, field: String, what: String = "the price") throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard !value.hasPrefix("-") else { throw .invalid(field, "\(what) must be positive (got \(value))") }
        guard let amount = TokenAmount(decimal: value, decimals: decimals) else {
            if value.contains("."), value.split(separator: ".").last.map({ $0.count > decimals && $0.allSatisfy(\.isNumber) }) == true {
                throw .invalid(field, "\(what) \(value) has more than \(decimals) decimals (the token's smallest unit)")
            }
            throw .invalid(field, "\(what) \"\(value)\" is not a decimal amount like 0.01")
        }
        guard !amount.isZero else { throw .invalid(field, "\(what) must be positive (got \(value)); a free route needs no gateway price") }
        return value
    }

    /// A 0x address of 40 hex digits, not the zero address.
    public static func address(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard let address = EthereumAddress(value) else {
            throw .invalid(field, "\"\(value)\" is not an address: 0x followed by 40 hex digits")
        }
        guard address.bytes.contains(where: { $0 != 0 }) else { throw .invalid(field, "the zero address would burn every payment") }
        return value
    }

    /// A whole number in `range`.
    public static func integer(_ text: String, in range: ClosedRange<Int>, field: String, what: String) throws(InitAnswerError) -> Int {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard let number = Int(value) else { throw .invalid(field, "\(what) must be a whole number (got \"\(value)\")") }
        return try integer(number, in: range, field: field, what: what)
    }

    public static func integer(_ number: Int, in range: ClosedRange<Int>, field: String, what: String) throws(InitAnswerError) -> Int {
        guard range.contains(number) else {
            throw .invalid(field, "\(what) must be between \(range.lowerBound) and \(range.upperBound) (got \(number))")
        }
        return number
    }

    /// A scope name: no spaces or commas (`reports:read`).
    public static func scope(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty, value.count <= 128,
              value.unicodeScalars.allSatisfy({ isIdentifierCharacter($0) || ":/*+@".unicodeScalars.contains($0) }) else {
            throw .invalid(field, "\"\(value)\" is not a scope: letters, digits and . _ - : / (e.g. reports:read)")
        }
        return value
    }

    /// An HTTP header name (RFC 9110 token).
    public static func headerName(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard HTTPField.Name(value) != nil else {
            throw .invalid(field, "\"\(value)\" is not a header name, e.g. X-Record-Count")
        }
        return value
    }

    /// A dotted path into a JSON document (`params.arguments.seconds`), `$` for the whole body.
    public static func jsonPath(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard value == "$" || (!value.isEmpty && value.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
            !$0.isEmpty && $0.unicodeScalars.allSatisfy { isIdentifierCharacter($0) }
        }) else {
            throw .invalid(field, "\"\(value)\" is not a dotted JSON path like records or data.items ($ for the whole body)")
        }
        return value
    }

    /// An environment variable name (`TOLLGATE_SECRET`).
    public static func environmentName(_ text: String, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard let first = value.unicodeScalars.first, first == "_" || ("A"..."Z").contains(first),
              value.unicodeScalars.allSatisfy({ $0 == "_" || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) else {
            throw .invalid(field, "\"\(value)\" is not an environment variable name (capitals, digits, _)")
        }
        return value
    }

    /// `host:port`; with `loopback`, only 127.0.0.0/8, ::1 or localhost.
    public static func listen(_ text: String, loopback: Bool = false, field: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces)
        guard let listen = GatewayConfiguration.Listen(value) else {
            throw .invalid(field, "\"\(value)\" is not host:port, e.g. 127.0.0.1:8402")
        }
        if loopback, !NetworkAddress.isLoopback(host: listen.host) {
            throw .invalid(field, "\(listen.host) is not a loopback address: the admin API stays on 127.0.0.1 (see docs/configuration.md, admin)")
        }
        return value
    }

    /// One of `choices` (case-insensitive, `aliases` mapped first).
    public static func choice(_ text: String, _ choices: [String], aliases: [String: String] = [:], field: String,
                              what: String) throws(InitAnswerError) -> String {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        let resolved = aliases[value] ?? value
        guard choices.contains(resolved) else {
            throw .invalid(field, "unknown \(what) \"\(text.trimmingCharacters(in: .whitespaces))\" (expected \(choices.joined(separator: ", ")))")
        }
        return resolved
    }

    /// A spend cap's or quota's period: `day` or `month`.
    public static func period(_ text: String, field: String) throws(InitAnswerError) -> String {
        try choice(text, ["day", "month"], aliases: ["daily": "day", "monthly": "month"], field: field, what: "period")
    }

    /// Whom a spend cap counts: `client`, `organisation` or `payer` (the paying address).
    public static func spender(_ text: String, field: String) throws(InitAnswerError) -> String {
        try choice(text, ["client", "organisation", "payer"], aliases: ["organization": "organisation", "org": "organisation", "address": "payer"],
                   field: field, what: "spender")
    }

    /// Whom a quota counts: `client` or `organisation`.
    public static func quotaHolder(_ text: String, field: String) throws(InitAnswerError) -> String {
        try choice(text, ["client", "organisation"], aliases: ["organization": "organisation", "org": "organisation"], field: field,
                   what: "quota holder")
    }

    /// yes/no, y/n, true/false.
    public static func yesNo(_ text: String, field: String) throws(InitAnswerError) -> Bool {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "y", "yes", "true": return true
        case "n", "no", "false": return false
        default: throw .invalid(field, "answer yes or no (got \"\(text)\")")
        }
    }

    /// A rate limit `R/B` (requests per second / burst), `R` alone (burst = R rounded up) or `off`.
    public static func rate(_ text: String, field: String) throws(InitAnswerError) -> InitAnswers.Rate {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        if value == "off" { return .off }
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count <= 2, let rate = Double(parts[0]) else {
            throw .invalid(field, "\"\(text)\" is not a rate: requests per second/burst like 20/40, or off")
        }
        let burst = parts.count == 2 ? Int(parts[1]) : InitAnswers.Rate.defaultBurst(rate)
        return try self.rate(.limit(ratePerSecond: rate, burst: burst ?? 0), field: field)
    }

    public static func rate(_ rate: InitAnswers.Rate, field: String) throws(InitAnswerError) -> InitAnswers.Rate {
        guard case .limit(let perSecond, let burst) = rate else { return rate }
        guard perSecond > 0, perSecond.isFinite, perSecond <= 1_000_000 else {
            throw .invalid(field, "the rate must be a positive number of requests per second (got \(perSecond))")
        }
        _ = try integer(burst, in: 1...1_000_000, field: field, what: "the burst")
        return rate
    }

    /// A comma-separated list; `none` or nothing is empty.
    public static func list(_ text: String) -> [String] {
        let value = text.trimmingCharacters(in: .whitespaces)
        if value.isEmpty || value.lowercased() == "none" { return [] }
        return value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `none`, `-` or nothing.
    public static func isNone(_ text: String) -> Bool {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        return value.isEmpty || value == "none" || value == "-"
    }

    static func isIdentifierCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "." || scalar == "_" || scalar == "-"
    }
}
