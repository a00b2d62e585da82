import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

/// `tollgate usage`: what a client consumed and paid, per resource and unit, over a period.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "usage", abstract: "Report metered usage per client and period.")

    @Option(help: "The client id (omit for every client).")
    var client: String?

    @Option(help: "A UTC month (2026-11), day (2026-11-25), or `today`, `month`. Default: this month.")
    var period: String = "month"

    @Option(name: .shortAndLong, help: "The gateway's configuration file (to find its store).")
    var config: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        guard let window = UsagePeriod(period, now: Date()) else {
            throw ValidationError("--period must be YYYY-MM, YYYY-MM-DD, today or month")
        }
        let configuration = try ConfigurationFile.load(config)
        let store = try await ConfigurationFile.openStore(configuration, requireKeys: false)
        let summaries = try await store.usage(clientId: client, fromMillis: window.fromMillis, toMillis: window.toMillis)
        var balances: [String: Int] = [:]
        if let client { balances = try await store.packageBalances(clientId: client) }
        if json {
            struct Report: Encodable {
                var client: String?
                var from: String
                var to: String
                var usage: [UsageSummary]
                var packageBalances: [String: Int]
            }
            print(RefundText.json(Report(client: client, from: RFC3339.format(millis: window.fromMillis, fractional: false),
                                         to: RFC3339.format(millis: window.toMillis, fractional: false), usage: summaries,
                                         packageBalances: balances)))
            return
        }
        print("usage of \(client ?? "every client") from \(RFC3339.format(millis: window.fromMillis, fractional: false)) "
              + "to \(RFC3339.format(millis: window.toMillis, fractional: false))")
        func money(_ amounts: [String: String]) -> String {
            amounts.sorted { $0.key < $1.key }.map { AssetAmount.text(atomic: $0.value, asset: $0.key, assets: configuration.assets) }
                .joined(separator: ", ")
        }
        var rows = [["resource", "unit", "requests", "units", "paid", "refunded"]]
        for summary in summaries {
            let paid = money(summary.paid)
            var refunded = [money(summary.refunded)].filter { !$0.isEmpty }
            if summary.creditedUnits > 0 { refunded.append("\(summary.creditedUnits) units credited") }
            rows.append([summary.resource, summary.unit, String(summary.events), String(summary.quantity), paid.isEmpty ? "prepaid" : paid,
                         refunded.isEmpty ? "-" : refunded.joined(separator: ", ")])
        }
        if summaries.isEmpty { rows.append(["(none)", "", "", "", "", ""]) }
        for line in TextTable.lines(rows) { print(line) }
        for (package, units) in balances.sorted(by: { $0.key < $1.key }) { print("package \(package): \(units) units left") }
    }
}
