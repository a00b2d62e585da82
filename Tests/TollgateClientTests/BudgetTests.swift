import Foundation
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

@Suite("Budgets: what may be paid, and the limit that refuses the rest")
struct BudgetTests {
    static let usdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    static let payee = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    static func terms(_ offers: [(amount: String, network: String, asset: String, payTo: String)]) -> PaymentTerms {
        PaymentTerms(v2: X402.PaymentRequired(error: nil, resource: .init(url: "http://api.example/data"), accepts: offers.map {
            X402.PaymentRequirements(scheme: "exact", network: $0.network, asset: $0.asset, amount: $0.amount, payTo: $0.payTo,
                                     maxTimeoutSeconds: 60, extra: ["name": .string("USDC"), "version": .string("2")])
        }))
    }

    @Test("amounts in units become millionths exactly, whatever the asset's decimals; more than six decimals round up")
    func microUnits() throws {
        #expect(MicroUnits(decimal: "0.05")?.value == 50_000)
        #expect(MicroUnits(decimal: "2")?.value == 2_000_000)
        #expect(MicroUnits(decimal: "0.0000001") == nil)
        #expect(MicroUnits(decimal: "-1") == nil)
        #expect(MicroUnits(decimal: "1e3") == nil)
        #expect(MicroUnits(atomic: TokenAmount(atomic: "10000")!, decimals: 6)?.value == 10_000)
        #expect(MicroUnits(atomic: TokenAmount(atomic: "5")!, decimals: 2)?.value == 50_000)
        // 18 decimals: 1 wei is still counted (rounded up), never as free.
        #expect(MicroUnits(atomic: TokenAmount(atomic: "1")!, decimals: 18)?.value == 1)
        #expect(MicroUnits(atomic: TokenAmount(atomic: "1000000000000000000")!, decimals: 18)?.value == 1_000_000)
        // Beyond what a budget counts: refused, not wrapped; sums saturate above every limit.
        #expect(MicroUnits(atomic: TokenAmount(atomic: String(repeating: "9", count: 40))!, decimals: 6) == nil)
        #expect(MicroUnits(atomic: TokenAmount(atomic: "9223372036854770000")!, decimals: 6) == nil)
        #expect(MicroUnits(atomic: TokenAmount(atomic: "9223372036854775807000000000001")!, decimals: 18) == nil)
        #expect(MicroUnits(decimal: "10000000000") == nil)
        #expect(MicroUnits(10_000) + MicroUnits(Int64.max) > MicroUnits.ceiling)
        #expect(MicroUnits.ceiling + MicroUnits.ceiling > MicroUnits.ceiling)
        #expect(MicroUnits(1_250_000).description == "1.25")
    }

    @Test("a base-60 whole number (which Yams builds with unchecked multiplications) is refused as a limit, never read")
    func baseSixtyNumbersAreRefused() {
        for limit in ["1:0:0:0:0:0:0:0:0:0:0", "9223372036854775807:0", "!!int 1:0:0:0:0:0:0:0:0:0:0"] {
            #expect(throws: ClientError.self) { try Budget.parse(yaml: "per_hour: \(limit)") }
        }
    }

    @Test("a budget file: every key read, a wrong key or value named")
    func budgetFile() throws {
        let budget = try Budget.parse(yaml: """
            per_payment: 0.05
            per_day: "2"
            hosts: {API.Example.com: {per_day: 0.5}}
            payees: {"\(Self.payee)": {per_payment: 0.02}}
            tools: {forecast: {per_month: 1}}
            allow:
              networks: [eip155:84532]
              payees: ["\(Self.payee)"]
            assets:
              - {network: "eip155:1", address: "0x00000000000000000000000000000000000000aa", decimals: 18, symbol: WETH}
            """)
        #expect(budget.overall.perPayment == MicroUnits(50_000))
        #expect(budget.overall.perDay == MicroUnits(2_000_000))
        // Left out, an overall limit keeps its standard value: a file never lifts a window by omission.
        #expect(budget.overall.perHour == Budget.standard.overall.perHour)
        #expect(budget.overall.perMonth == Budget.standard.overall.perMonth)
        #expect(budget.hosts["api.example.com"]?.perDay == MicroUnits(500_000))
        #expect(budget.payees[Self.payee.lowercased()]?.perPayment == MicroUnits(20_000))
        #expect(budget.tools["forecast"]?.perMonth == MicroUnits(1_000_000))
        #expect(budget.networks == ["eip155:84532"])
        #expect(budget.allowedPayees == [Self.payee.lowercased()])
        #expect(budget.knownAssets.asset(network: "eip155:1", address: "0x00000000000000000000000000000000000000AA")?.decimals == 18)

        for (yaml, named) in [("per_week: 1", "per_week"), ("per_day: lots", "per_day"), ("hosts: {a: {per_dya: 1}}", "hosts.a.per_dya"),
                              ("allow: {payees: [0x12]}", "allow.payees"), ("per_payment: 0.0000001", "per_payment"), ("- 1", "mapping"),
                              ("payees: {\"209693Bc6afc0C5328bA36FaF03C514EF312287C\": {per_day: 1}}", "payees.209693"),
                              ("payees: {\"0x209693Bc6afc0C5328bA36FaF03C514EF31228\": {per_day: 1}}", "payees.0x2096"),
                              ("allow: {payees: [\"0xZZ9693Bc6afc0C5328bA36FaF03C514EF312287C\"]}", "allow.payees")] {
            #expect(throws: ClientError.self) { try Budget.parse(yaml: yaml) }
            do {
                _ = try Budget.parse(yaml: yaml)
            } catch {
                #expect(error.code == .invalidBudget)
                #expect(error.message.contains(named), "\(yaml) → \(error.message)")
            }
        }
    }

    @Test("the cheapest allowed offer is chosen; a payee, network or asset outside the allow-lists is never chosen")
    func choosing() throws {
        var budget = Budget.standard
        let terms = Self.terms([("30000", "eip155:84532", Self.usdc, Self.payee),
                                ("20000", "eip155:84532", Self.usdc, "0x0000000000000000000000000000000000000bad"),
                                ("10000", "solana:devnet", "So111", Self.payee)])
        // Cheapest payable first: the Solana offer is not payable by this client.
        #expect(try budget.choose(terms, host: "api.example", tool: nil).map(\.amount.atomic) == ["20000", "30000"])
        budget.allowedPayees = [Self.payee.lowercased()]
        let chosen = try budget.choose(terms, host: "api.example", tool: nil)
        #expect(chosen.map(\.option.payTo) == [Self.payee])
        #expect(chosen.first?.price == "0.03 USDC")

        budget.networks = ["eip155:8453"]
        #expect(throws: ClientError(.notAllowed, "network eip155:84532 is not in the budget's allow.networks")) {
            try budget.choose(Self.terms([("30000", "eip155:84532", Self.usdc, Self.payee)]), host: nil, tool: nil)
        }
        // An asset whose decimals are unknown cannot be counted, so it is not paid.
        let unknown = Self.terms([("1", "eip155:84532", "0x00000000000000000000000000000000000000aa", Self.payee)])
        #expect((try? Budget.standard.choose(unknown, host: nil, tool: nil)) == nil)
    }

    @Test("a budget file without overall limits keeps the standard ones, unlimited only when it says so; a host key with a port is refused; hosts are normalised")
    func fileDefaults() throws {
        let budget = try Budget.parse(yaml: "hosts: {API.example.com.: {per_day: 0.5}}\nallow: {networks: [eip155:84532]}")
        #expect(budget.overall == Budget.standard.overall)
        let lifted = try Budget.parse(yaml: "per_payment: 0.01\nper_hour: unlimited\nhosts: {a.example: {per_day: unlimited}}")
        #expect(lifted.overall == Budget.Limits(perPayment: MicroUnits(10_000), perHour: nil, perDay: Budget.standard.overall.perDay,
                                                perMonth: Budget.standard.overall.perMonth))
        #expect(lifted.hosts["a.example"] == Budget.Limits())
        #expect(budget.hosts["api.example.com"]?.perDay == MicroUnits(500_000))
        #expect(budget.scopes(host: "Api.Example.com.", payee: Self.payee, tool: nil).map(\.scope) == [.overall, .host("api.example.com")])
        #expect(throws: ClientError.self) { try Budget.parse(yaml: "hosts: {\"api.example.com:8443\": {per_day: 1}}") }
    }

    @Test("an offer asking for an authorization valid for years, or already dead, is not signed")
    func validity() throws {
        for seconds in [0, 5, 86_400 * 365, Int.max] {
            let terms = PaymentTerms(v2: X402.PaymentRequired(error: nil, resource: .init(url: "http://api.example/data"), accepts: [
                X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: Self.usdc, amount: "10000", payTo: Self.payee,
                                         maxTimeoutSeconds: seconds, extra: ["name": .string("USDC"), "version": .string("2")]),
            ]))
            #expect(throws: ClientError.self, "maxTimeoutSeconds \(seconds)") { try Budget.standard.choose(terms, host: nil, tool: nil) }
        }
    }

    @Test("a price above a per-payment limit is refused naming the limit and its scope: overall, host, payee, tool")
    func perPaymentLimits() throws {
        let terms = Self.terms([("300000", "eip155:84532", Self.usdc, Self.payee)])
        do {
            _ = try Budget.standard.choose(terms, host: nil, tool: nil)
            Issue.record("0.30 passed a 0.25 limit")
        } catch {
            #expect(error.code == .budgetExceeded)
            #expect(error.message.contains("per_payment (overall)"))
        }
        var budget = Budget(overall: .init())
        budget.hosts["api.example"] = .init(perPayment: MicroUnits(100_000))
        #expect(throws: ClientError.self) { try budget.choose(terms, host: "API.example", tool: nil) }
        #expect((try? budget.choose(terms, host: "other.example", tool: nil))?.count == 1)
        budget.tools["forecast"] = .init(perPayment: MicroUnits(1))
        #expect(throws: ClientError.self) { try budget.choose(terms, host: "other.example", tool: "forecast") }
        budget.payees[Self.payee.lowercased()] = .init(perPayment: MicroUnits(1))
        do {
            _ = try budget.choose(terms, host: "other.example", tool: nil)
            Issue.record("the payee's limit was not applied")
        } catch {
            #expect(error.message.contains("payee \(Self.payee.lowercased())"))
        }
    }
}
