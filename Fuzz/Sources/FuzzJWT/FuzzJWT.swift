// Fuzz target: the bearer JWT reader (`JWTIdentity.handles` and `identify`, through jwt-kit). Keys as in
// production, from a JWKS document (an ES256 key "es" and an RS256 key "rs"), plus an HS256 key as the
// default signer so inputs can be signed here.
//
// The first input byte chooses what the rest is:
//   even: the token as sent (`Authorization: Bearer <token>`);
//   odd:  the claims (JSON text) of a token this target signs with the HS256 key, so mutations reach the
//         claim checks (issuer, audience, expiry, scopes) behind the signature check.
// Invariants: `handles` is true exactly when the token has two dots; a token that is identified is one
// `handles` accepts; identifying never crashes, hangs or leaks.
import CLibFuzzer
import Crypto
import Dispatch
import Foundation
import JWTKit
import TollgateCore
import TollgateHTTP

let issuer = "https://auth.test"
let audience = "tollgate"
let hmacSecret = Array("tollgate-fuzz-hs256-secret-do-not-use".utf8)
let jwks = #"""
{"keys":[{"kty":"EC","crv":"P-256","kid":"es","alg":"ES256","use":"sig","x":"TIjneDoGXPSawaaVw_FH6skp8MdaAyQiDgDojIzXllY","y":"1t89S1S2L74fOYaEzni9FVMT6_VJKp3jzOXOY_J1GFE"},{"kty":"RSA","kid":"rs","alg":"RS256","use":"sig","n":"tdRSYi-zosBtnt3x6Mm9ScPmeLSDLcFdegfrrM4sLbqZIO0oxYmAOh1jsV68rOjnVlErNQqhP1gU3oeaHT3UHfNg1N8OpIWsA5WZ4iKdNbMeOJC4LTa8d1aNt8jTEkrb6KZcpahZfGnfi8Wny-ZjiVupjWZyl6Dfi26MZOo7VDahvNIVm-Bf8p9PyYL9dbfhMrJtag5WsxhcakR8gwKjA-TJ6w4oR6q3iO3SAxeAB7h_bTHEiy0ooSmaS8vnA_8HZbCMluqZfoCsnFcpuaaJFfmJMrKLetjqF2U1fB_Lai9dp1Wx_4o9tMb4mckL-VuDmdWiktUB1PszDZCv_Yh9ww","e":"AQAB"}]}
"""#

/// Holds the result of an async call for the synchronous fuzz entry point.
final class ResultBox<Value: Sendable>: @unchecked Sendable {
    var value: Value?
}

/// Runs `body` on the cooperative pool and blocks this (libFuzzer's) thread until it returns.
func blocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let box = ResultBox<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

let identity: JWTIdentity = blocking {
    do {
        let keys = try await JWTIdentity.keys(jwks: jwks, pem: nil)
        await keys.add(hmac: HMACKey(from: hmacSecret), digestAlgorithm: .sha256)
        return JWTIdentity(keys: keys, issuer: issuer, audience: audience)
    } catch {
        fatalError("the fuzz target's own keys do not load: \(error)")
    }
}

func base64url(_ bytes: some Sequence<UInt8>) -> String {
    var text = Data(bytes).base64EncodedString()
    text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    while text.hasSuffix("=") { text.removeLast() }
    return text
}

/// An HS256 JWT with `claims` as its payload, signed with the default key.
func signed(claims: [UInt8]) -> String {
    let input = base64url(#"{"alg":"HS256","typ":"JWT"}"#.utf8) + "." + base64url(claims)
    let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: hmacSecret))
    return input + "." + base64url(Array(mac))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let mode = input.first else { return 0 }
    let body = Array(input.dropFirst())
    let token = mode % 2 == 0 ? String(decoding: body, as: UTF8.self) : signed(claims: body)
    let handled = identity.handles(Substring(token))
    precondition(handled == (token.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2), "handles disagrees with the dot count")
    let outcome = blocking { await identity.identify(Substring(token)) }
    if case .identified = outcome {
        precondition(handled, "a token handles() refuses was identified")
    }
    return 0
}

/// libFuzzer's driver as this executable's entry point. SwiftPM links `main` to `<module>_main` (so tests
/// could import executables); this is that symbol, doing what libFuzzer's own `main` does.
@_cdecl("FuzzJWT_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else {
            var empty: UInt8 = 0
            return fuzz(&empty, 0)
        }
        return fuzz(data, size)
    }
}
