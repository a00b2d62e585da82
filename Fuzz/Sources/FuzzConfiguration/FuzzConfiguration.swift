// Fuzz target: the configuration loader (`ConfigurationLoader.parse`): YAML (Yams, libyaml) and every
// section reader behind it. The input is the text of a configuration file (lossily decoded as UTF-8, as
// the loader's callers do). Refusing a text, with any number of issues, is fine; crashing, hanging or
// leaking is not. An accepted configuration has no issue of severity error among its warnings.
import TollgateHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    switch Result(catching: { () throws(ConfigurationError) in try ConfigurationLoader.parse(text, file: "fuzz.yaml") }) {
    case .success(let (_, warnings)):
        precondition(!warnings.contains { $0.severity == .error }, "an accepted configuration carries an error")
    case .failure(let error):
        _ = "\(error)"
    }
    return 0
}
