import Foundation
import Hummingbird
import Logging
import TollgateHTTP

/// The application's own routes. Nothing here knows about x402: the middleware in front has already decided
/// (and, for a priced route, will settle only if the handler answers well); the handler reads what was
/// decided from `context.tollgate`.
enum PaidRoutes {
    static func add(to router: Router<TollgateRequestContext>) {
        router.get("/health") { _, _ in "ok\n" }

        // Priced (0.01 USDC, anyone may pay). A symbol we do not know is a 404, and a 404 is not charged.
        router.get("/quotes/:symbol") { _, context -> Quote in
            let symbol = try context.parameters.require("symbol").uppercased()
            guard let price = prices[symbol] else { throw HTTPError(.notFound, message: "no quote for \(symbol)") }
            let paid = context.tollgate
            context.logger.info("quote served", metadata: [
                "symbol": "\(symbol)", "correlation_id": "\(paid?.correlationId ?? "")", "payer": "\(paid?.payer ?? "")",
            ])
            return Quote(symbol: symbol, price: price, client: paid?.clientId, payer: paid?.payer, correlationId: paid?.correlationId)
        }

        // Priced, for API-key holders with reports:read: the handler sees which client paid.
        router.get("/reports/daily") { _, context -> Report in
            Report(title: "Daily market report", symbols: prices.keys.sorted(), client: context.tollgate?.clientId,
                   payer: context.tollgate?.payer, correlationId: context.tollgate?.correlationId)
        }

        // Priced, but the forecasting model is down: the handler throws, the gateway answers 502 and
        // settles nothing, so the caller's signed payment is never collected.
        router.get("/forecasts/:symbol") { _, context -> Quote in
            context.logger.error("forecast model unavailable", metadata: ["correlation_id": "\(context.tollgate?.correlationId ?? "")"])
            throw ForecastModelUnavailable()
        }

        // Not in the configuration: with `unmatched: pass` the middleware lets it through free.
        router.get("/about") { _, context -> About in
            About(name: "Hummingbird paid API", correlationId: context.tollgate?.correlationId)
        }
    }

    static let prices = ["ACME": "101.25", "GLOBEX": "47.10", "INITECH": "12.80"]
}

struct Quote: ResponseEncodable {
    let symbol: String
    let price: String
    let client: String?
    let payer: String?
    let correlationId: String?
}

struct Report: ResponseEncodable {
    let title: String
    let symbols: [String]
    let client: String?
    let payer: String?
    let correlationId: String?
}

struct About: ResponseEncodable {
    let name: String
    let correlationId: String?
}

/// Not an `HTTPError`: to the middleware, a handler that throws is an upstream that did not answer.
struct ForecastModelUnavailable: Error {}
