import Foundation
import TollgateCore
import Yams

/// The limits an agent pays within, from a budget file (`--budget FILE`, YAML), `--max-per-payment`, or the default.
/// Amounts are decimals in the asset's units (`0.05` is five cents of USDC); they are kept in millionths of a unit
/// (`MicroUnits`) so that the ledger sums them exactly. Windows are rolling: the last hour, 24 hours, 30 days. An
/// overall limit the file leaves out keeps its standard value (`standard`); `unlimited` lifts it. A scope's (host,
/// payee, tool) limit left out is no limit beyond the overall ones.
///
/// ```yaml
/// per_payment: 0.10        # overall limits
/// per_hour: 1.00
/// per_day: 2.00
/// per_month: 20.00
/// hosts:  {api.example.com: {per_day: 0.50}}
/// payees: {"0xabc…": {per_payment: 0.02}}
/// tools:  {forecast: {per_day: 0.20}}
/// allow:
///   networks: [eip155:84532]
///   assets: ["0x036CbD53842c5426634e7929541eC2318f3dCF7e"]
///   payees: ["0xabc…"]
/// assets:                  # decimals of assets the client does not know
///   - {network: "eip155:1", address: "0x…", decimals: 6, symbol: "USDT"}
/// ```
public struct Budget: Sendable, Hashable {
    /// Limits of one scope (overall, a host, a payee, a tool); nil is no limit.
    public struct Limits: Sendable, Hashable {
        public var perPayment: MicroUnits?
        public var perHour: MicroUnits?
        public var perDay: MicroUnits?
        public var perMonth: MicroUnits?

        public init(perPayment: MicroUnits? = nil, perHour: MicroUnits? = nil, perDay: MicroUnits? = nil, perMonth: MicroUnits? = nil) {
            self.perPayment = perPayment
            self.perHour = perHour
            self.perDay = perDay
            self.perMonth = perMonth
        }

        /// Each windowed limit with its name and length.
        public var windows: [(name: String, seconds: Int64, limit: MicroUnits)] {
            [("per_hour", 3600, perHour), ("per_day", 86_400, perDay), ("per_month", 30 * 86_400, perMonth)]
                .compactMap { name, seconds, limit in limit.map { (name, seconds, $0) } }
        }
    }

    public var overall: Limits
    public var hosts: [String: Limits] = [:]
    /// Keyed by lowercased address.
    public var payees: [String: Limits] = [:]
    public var tools: [String: Limits] = [:]
    /// Allowed networks (CAIP-2); nil allows any.
    public var networks: Set<String>?
    /// Allowed assets (lowercased addresses); nil allows the assets whose decimals are known.
    public var assets: Set<String>?
    /// Allowed payees (lowercased addresses); nil allows any.
    public var allowedPayees: Set<String>?
    public var knownAssets: KnownAssets = .builtIn

    public init(overall: Limits) {
        self.overall = overall
    }

    /// What a first `tollgate pay` may spend without a budget file: a few cents a payment, a few dollars a day.
    public static let standard = Budget(overall: Limits(perPayment: MicroUnits(250_000), perHour: MicroUnits(2_000_000),
                                                        perDay: MicroUnits(5_000_000), perMonth: MicroUnits(50_000_000)))

    /// A host as budgets and the ledger name it: lowercased, without a trailing dot (`API.example.com.` is
    /// `api.example.com`, so a spelling cannot step around a host's limit).
    public static func normalized(_ host: String) -> String {
        var host = host.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// Every scope with limits: overall first, then hosts, payees and tools by name.
    public var allScopes: [(scope: SpendScope, limits: Limits)] {
        [(.overall, overall)] + hosts.sorted { $0.key < $1.key }.map { (.host($0.key), $0.value) }
            + payees.sorted { $0.key < $1.key }.map { (.payee($0.key), $0.value) } + tools.sorted { $0.key < $1.key }.map { (.tool($0.key), $0.value) }
    }

    /// The limits that apply to a payment, with the scope each belongs to.
    func scopes(host: String?, payee: String, tool: String?) -> [(scope: SpendScope, limits: Limits)] {
        var scopes: [(SpendScope, Limits)] = [(.overall, overall)]
        if let host = host.map(Self.normalized), let limits = hosts[host] { scopes.append((.host(host), limits)) }
        if let limits = payees[payee.lowercased()] { scopes.append((.payee(payee.lowercased()), limits)) }
        if let tool, let limits = tools[tool] { scopes.append((.tool(tool), limits)) }
        return scopes
    }
}

/// What a budget limit counts over.
public enum SpendScope: Sendable, Hashable, CustomStringConvertible {
    case overall
    case host(String)
    case payee(String)
    case tool(String)

    public var description: String {
        switch self {
        case .overall: "overall"
        case .host(let host): "host \(host)"
        case .payee(let payee): "payee \(payee)"
        case .tool(let tool): "tool \(tool)"
        }
    }
}

/// An amount in millionths of an asset's unit (1 USDC = 1,000,000), so budgets add up exactly whatever the asset's
/// decimals; an asset with more than six decimals is rounded up (a budget never counts less than was paid).
public struct MicroUnits: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: Int64

    public init(_ value: Int64) { self.value = value }

    /// A decimal in units ("0.05"); nil when it is not a non-negative decimal with at most six fractional digits.
    public init?(decimal text: String) {
        guard let amount = TokenAmount(decimal: text.trimmingCharacters(in: .whitespaces), decimals: 6), let value = Int64(amount.atomic),
              value <= Self.ceiling.value else {
            return nil
        }
        self.value = value
    }

    /// An asset's atomic amount, for an asset of `decimals` decimals; nil when it is beyond what a budget can count.
    public init?(atomic amount: TokenAmount, decimals: Int) {
        var digits = amount.atomic
        if decimals <= 6 {
            digits += String(repeating: "0", count: 6 - decimals)
        } else {
            let cut = decimals - 6
            let dropped = digits.count > cut ? String(digits.suffix(cut)) : digits
            digits = digits.count > cut ? String(digits.dropLast(cut)) : "0"
            guard var whole = Int64(digits), whole <= Self.ceiling.value else { return nil }
            if dropped.contains(where: { $0 != "0" }) { whole += 1 }
            self.value = whole
            return
        }
        guard let value = Int64(digits), value <= Self.ceiling.value else { return nil }
        self.value = value
    }

    /// No budget counts beyond a billion units (10^15 millionths): an offer above it is refused, and sums cannot wrap.
    public static let ceiling = MicroUnits(1_000_000_000_000_000)

    /// Saturating: a sum past `ceiling` is `ceiling + 1`, above every limit.
    public static func + (lhs: MicroUnits, rhs: MicroUnits) -> MicroUnits {
        let (sum, overflow) = lhs.value.addingReportingOverflow(rhs.value)
        return overflow || sum > ceiling.value ? MicroUnits(ceiling.value + 1) : MicroUnits(sum)
    }
    public static func < (lhs: MicroUnits, rhs: MicroUnits) -> Bool { lhs.value < rhs.value }

    /// "0.05", "2", "0.000001".
    public var description: String { TokenAmount(atomic: String(value)).map { $0.decimalString(decimals: 6) } ?? String(value) }
}

/// The decimals of the assets a budget can count.
public struct KnownAssets: Sendable, Hashable {
    public struct Asset: Sendable, Hashable {
        public var symbol: String
        public var decimals: Int
    }

    /// Keyed by "network/lowercased address".
    var assets: [String: Asset]

    /// USDC on Base, Base Sepolia, Ethereum, Avalanche and Polygon (Circle's contracts; 6 decimals).
    public static let builtIn = KnownAssets(assets: [
        "eip155:8453/0x833589fcd6edb6e08f4c7c32d4f71b54bda02913": Asset(symbol: "USDC", decimals: 6),
        "eip155:84532/0x036cbd53842c5426634e7929541ec2318f3dcf7e": Asset(symbol: "USDC", decimals: 6),
        "eip155:1/0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": Asset(symbol: "USDC", decimals: 6),
        "eip155:43114/0xb97ef9ef8734c71904d8002f8b6bc66dd9c48a6e": Asset(symbol: "USDC", decimals: 6),
        "eip155:43113/0x5425890298aed601595a70ab815c96711a31bc65": Asset(symbol: "USDC", decimals: 6),
        "eip155:137/0x3c499c542cef5e3811e1192ce70d8cc03d5c3359": Asset(symbol: "USDC", decimals: 6),
    ])

    /// The built-in USDC contract of `network`.
    public static func usdc(network: String) -> String? {
        builtIn.assets.first { $0.key.hasPrefix(network + "/") && $0.value.symbol == "USDC" }.map { String($0.key.dropFirst(network.count + 1)) }
    }

    public func asset(network: String, address: String) -> Asset? {
        assets["\(network)/\(address.lowercased())"]
    }

    public mutating func add(network: String, address: String, _ asset: Asset) {
        assets["\(network)/\(address.lowercased())"] = asset
    }
}
