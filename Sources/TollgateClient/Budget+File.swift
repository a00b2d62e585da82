import Foundation
import Yams

extension Budget {
    /// Reads a budget file (the YAML described on `Budget`); a wrong key or value is an error naming it.
    public static func load(path: String) throws(ClientError) -> Budget {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ClientError(.invalidBudget, "cannot read the budget file \(path)")
        }
        return try parse(yaml: text, source: path)
    }

    /// The default constructor, except that a YAML 1.1 base-60 whole number (`1:30:00`), which Yams builds with unchecked
    /// multiplications (a long one would stop the process), is read as text, and so refused as a limit.
    static var constructor: Constructor {
        var scalars = Constructor.defaultScalarMap
        scalars[.int] = { scalar in scalar.string.contains(":") ? nil : Int.construct(from: scalar) }
        return Constructor(scalars)
    }

    public static func parse(yaml text: String, source: String = "budget") throws(ClientError) -> Budget {
        let document: Any?
        do {
            document = try Yams.load(yaml: text, .default, Self.constructor)
        } catch {
            throw ClientError(.invalidBudget, "\(source) is not YAML: \(error)")
        }
        guard let root = (document ?? [String: Any]()) as? [String: Any] else {
            throw ClientError(.invalidBudget, "\(source) must be a mapping of limits")
        }
        var budget = Budget(overall: try limits(root, path: "", allowing: ["hosts", "payees", "tools", "allow", "assets"], source: source))
        // Each overall limit the file leaves out keeps its standard value (a file that sets only `per_payment`, or only
        // per-host limits, still has the standard windows): a budget file never makes spending unlimited by leaving a
        // key out; `unlimited` says so.
        let standard = Budget.standard.overall
        for (key, limit) in zip(limitKeys, [\Limits.perPayment, \.perHour, \.perDay, \.perMonth]) where root[key] == nil {
            budget.overall[keyPath: limit] = standard[keyPath: limit]
        }
        budget.hosts = try scoped(root["hosts"], path: "hosts", source: source) { Budget.normalized($0) }
        for host in budget.hosts.keys where host.contains(":") || host.contains("/") {
            throw ClientError(.invalidBudget, "\(source): hosts.\(host) must be a host name alone, without a port or path")
        }
        budget.payees = try scoped(root["payees"], path: "payees", source: source) { $0.lowercased() }
        // A payee spelt wrong would match no offer: its limit would silently apply to nothing.
        for payee in budget.payees.keys { try address(payee, path: "payees.\(payee)", source: source) }
        budget.tools = try scoped(root["tools"], path: "tools", source: source) { $0 }
        if let allow = root["allow"] {
            guard let allow = allow as? [String: Any] else { throw ClientError(.invalidBudget, "\(source): allow must be a mapping") }
            for key in allow.keys where !["networks", "assets", "payees"].contains(key) {
                throw ClientError(.invalidBudget, "\(source): allow.\(key) is not a budget key (networks, assets, payees)")
            }
            budget.networks = try strings(allow["networks"], path: "allow.networks", source: source).map { Set($0) }
            budget.assets = try strings(allow["assets"], path: "allow.assets", source: source).map { Set($0.map { $0.lowercased() }) }
            budget.allowedPayees = try strings(allow["payees"], path: "allow.payees", source: source).map { Set($0.map { $0.lowercased() }) }
            for payee in budget.allowedPayees ?? [] { try address(payee, path: "allow.payees", source: source) }
        }
        if let assets = root["assets"] {
            guard let assets = assets as? [Any] else { throw ClientError(.invalidBudget, "\(source): assets must be a list") }
            for (index, entry) in assets.enumerated() {
                guard let entry = entry as? [String: Any], let network = entry["network"] as? String, let address = entry["address"] as? String,
                      let decimals = entry["decimals"] as? Int, (0...36).contains(decimals)
                else {
                    throw ClientError(.invalidBudget, "\(source): assets[\(index)] needs network, address and decimals (0 to 36)")
                }
                budget.knownAssets.add(network: network, address: address,
                                       .init(symbol: entry["symbol"] as? String ?? "units", decimals: decimals))
            }
        }
        return budget
    }

    static let limitKeys = ["per_payment", "per_hour", "per_day", "per_month"]

    private static func limits(_ map: [String: Any], path: String, allowing others: [String] = [], source: String) throws(ClientError) -> Limits {
        for key in map.keys where !limitKeys.contains(key) && !others.contains(key) {
            throw ClientError(.invalidBudget, "\(source): \(path)\(key) is not a budget key (\((limitKeys + others).joined(separator: ", ")))")
        }
        func amount(_ key: String) throws(ClientError) -> MicroUnits? {
            guard let value = map[key], value as? String != "unlimited" else { return nil }
            let text: String
            switch value {
            case let number as Int: text = String(number)
            case let number as Double: text = String(number)
            case let string as String: text = string
            default: throw ClientError(.invalidBudget, "\(source): \(path)\(key) must be an amount such as 0.05, or unlimited")
            }
            guard let units = MicroUnits(decimal: text) else {
                throw ClientError(.invalidBudget, "\(source): \(path)\(key) must be a non-negative amount with at most 6 decimals, or unlimited, not \(text)")
            }
            return units
        }
        return Limits(perPayment: try amount("per_payment"), perHour: try amount("per_hour"), perDay: try amount("per_day"),
                      perMonth: try amount("per_month"))
    }

    private static func scoped(_ value: Any?, path: String, source: String, key: (String) -> String) throws(ClientError) -> [String: Limits] {
        guard let value else { return [:] }
        guard let map = value as? [String: Any] else { throw ClientError(.invalidBudget, "\(source): \(path) must be a mapping") }
        var result: [String: Limits] = [:]
        for (name, entry) in map {
            guard let entry = entry as? [String: Any] else { throw ClientError(.invalidBudget, "\(source): \(path).\(name) must be a mapping of limits") }
            result[key(name)] = try limits(entry, path: "\(path).\(name).", source: source)
        }
        return result
    }

    /// An EVM address: `0x` and 40 hex digits.
    private static func address(_ text: String, path: String, source: String) throws(ClientError) {
        guard text.utf8.count == 42, text.hasPrefix("0x"), text.dropFirst(2).allSatisfy(\.isHexDigit) else {
            throw ClientError(.invalidBudget, "\(source): \(path) must be an address, 0x and 40 hex digits (not \(text))")
        }
    }

    private static func strings(_ value: Any?, path: String, source: String) throws(ClientError) -> [String]? {
        guard let value else { return nil }
        guard let list = value as? [Any] else { throw ClientError(.invalidBudget, "\(source): \(path) must be a list") }
        return try list.map { item throws(ClientError) in
            guard let text = item as? String else {
                throw ClientError(.invalidBudget, "\(source): \(path) must list strings (quote addresses: \"0xabc…\")")
            }
            return text
        }
    }
}
