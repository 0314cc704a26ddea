//! Hostile test plugin: a valid component of some other contract (`acme:widgets`). Lux must refuse
//! it at load with a message that names what it exports.

wit_bindgen::generate!({ path: "wit", world: "widget" });

struct Widget;

impl exports::acme::widgets::greeter::Guest for Widget {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

export!(Widget);
