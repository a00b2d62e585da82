import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore

/// A small dataset API to put behind the gateway in the quickstart, the demo and the tests: JSON
/// records (some with private fields), a daily report, a health probe, an endpoint that fails and one that is slow.
///
/// With `contract` set it checks the gateway's `Tollgate-Signature` like a real backend should (`ContractVerifier`:
/// the contract key, the body, a fresh timestamp, no replay) and refuses requests that did not come through the gateway.
public enum SampleUpstream {
    public static func router(contract: ContractVerifier? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in json(["ok": true]) }
        router.get("/datasets/prices") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            return json(Dataset(dataset: "prices", records: prices, privateFields: ["trader_id"], delivery: delivery(request)))
        }
        router.get("/datasets/history") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            return json(Dataset(dataset: "history", records: history, privateFields: ["trader_id"], delivery: delivery(request)))
        }
        router.get("/datasets/broken") { _, _ in
            Response(status: .internalServerError, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: #"{"error":"the dataset store is down"}"#)))
        }
        router.get("/reports/daily") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            return json(Report(report: "daily", date: "2026-11-25", summary: "Markets closed mixed; volumes 4% above the 30-day mean.",
                               topMovers: ["ACME": "+3.1%", "GLOBEX": "-2.4%"], delivery: delivery(request)))
        }
        // Metered resources (docs/configuration.md, "Metering").
        router.get("/records") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 100, 0), catalogue.count)
            var response = json(RecordPage(records: Array(catalogue.prefix(limit)), delivery: delivery(request)))
            response.headers[HTTPField.Name("X-Record-Count")!] = String(limit)
            return response
        }
        router.get("/exports/{name}") { request, context in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            let name = context.parameters.get("name") ?? "export"
            let rows = catalogue.map { "\($0.symbol),\($0.date),\($0.price),\($0.volume)" }.joined(separator: "\n")
            return Response(status: .ok, headers: [.contentType: "text/csv", .contentDisposition: "attachment; filename=\"\(name).csv\""],
                            body: .init(byteBuffer: ByteBuffer(string: "symbol,date,price,volume\n" + rows + "\n")))
        }
        router.post("/jobs/render") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            // Pretends to work: reports the seconds it was paid for (from the contract's unit header) as the seconds it used.
            let paid = request.headers[.tollgateUnit].flatMap { $0.split(separator: "=").last.flatMap { Int($0) } } ?? 1
            var response = json(["job": "render", "status": "done", "seconds": String(paid)])
            response.headers[HTTPField.Name("X-Work-Seconds")!] = String(paid)
            return response
        }
        // A slow answer (`ms`, at most 30 s): what a long job looks like from the gateway (timeouts, claim leases).
        router.get("/slow") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            let millis = min(max(request.uri.queryParameters.get("ms", as: Int.self) ?? 1000, 0), 30_000)
            try await Task.sleep(for: .milliseconds(millis))
            return json(["slow": "done", "ms": String(millis)])
        }
        router.get("/search") { request, _ in
            var request = request
            if let refusal = await refuse(&request, contract) { return refusal }
            let query = (request.uri.queryParameters.get("q") ?? "").uppercased()
            let hits = catalogue.filter { query.isEmpty || $0.symbol.contains(query) }.prefix(10)
            return json(RecordPage(records: Array(hits), delivery: delivery(request)))
        }
        return router
    }

    struct RecordPage: Encodable {
        var records: [Record]
        var delivery: Delivery
    }

    /// 250 records for the per-record and per-byte routes.
    static let catalogue = (0..<250).map { index in
        Record(symbol: ["ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI"][index % 5], date: "2026-11-\(String(format: "%02d", 1 + index % 25))",
               price: "\(50 + index % 70).\(String(format: "%02d", index % 100))", volume: 10_000 + index * 37, trader_id: "T-\(1000 + index)")
    }

    struct Record: Encodable {
        var symbol: String
        var date: String
        var price: String
        var volume: Int
        /// Private: who traded. Tollgate can strip it for clients without the scope to see it.
        var trader_id: String
    }

    struct Dataset: Encodable {
        var dataset: String
        var records: [Record]
        var privateFields: [String]
        var delivery: Delivery
    }

    struct Report: Encodable {
        var report: String
        var date: String
        var summary: String
        var topMovers: [String: String]
        var delivery: Delivery
    }

    /// What the backend learnt from the gateway's contract headers.
    struct Delivery: Encodable {
        var client: String?
        var payer: String?
        var amount: String?
        var unit: String?
        var correlationId: String?
    }

    static let prices = [
        Record(symbol: "ACME", date: "2026-11-25", price: "101.25", volume: 120_400, trader_id: "T-0192"),
        Record(symbol: "GLOBEX", date: "2026-11-25", price: "48.10", volume: 98_000, trader_id: "T-0077"),
        Record(symbol: "INITECH", date: "2026-11-25", price: "12.02", volume: 310_750, trader_id: "T-0311"),
    ]

    static let history = (1...5).map { day in
        Record(symbol: "ACME", date: "2026-11-\(String(format: "%02d", 20 + day))", price: "\(97 + day).00", volume: 100_000 + day * 1_000,
               trader_id: "T-0\(100 + day)")
    }

    static func delivery(_ request: Request) -> Delivery {
        Delivery(client: request.headers[.tollgateClient], payer: request.headers[.tollgatePayer], amount: request.headers[.tollgateAmount],
                 unit: request.headers[.tollgateUnit], correlationId: request.headers[.tollgateCorrelationId])
    }

    static func refuse(_ request: inout Request, _ contract: ContractVerifier?) async -> Response? {
        guard let contract else { return nil }
        let body = (try? await request.collectBody(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
        let now = Int64(Date().timeIntervalSince1970)
        guard case .failure = contract.verify(request.headers, method: request.method.rawValue, target: request.head.path ?? "/", body: body, now: now)
        else { return nil }
        return Response(status: .unauthorized, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: #"{"error":"not signed by the gateway"}"#)))
    }

    static func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
