//! The detect stage's parts: the rules a run applies to each batch and where the new alerts are
//! announced.
use crate::detect::RulePack;
use crate::notify::Notifiers;
use std::sync::Arc;

#[derive(Clone)]
pub struct Detection {
    pub pack: Arc<RulePack>,
    pub notifiers: Notifiers,
}

impl Detection {
    pub fn new(pack: Arc<RulePack>, notifiers: Notifiers) -> Self {
        Detection { pack, notifiers }
    }

    /// The built-in pack, announcing nothing: what a collector runs unless told otherwise.
    pub fn builtin() -> Self {
        // Compiled in and parsed by the tests (detect::tests::builtin): a failure is a bug.
        let pack = crate::detect::RulePack::builtin()
            .expect("the built-in rule pack parses (tested in detect::tests::builtin)");
        Detection::new(Arc::new(pack), Notifiers::none())
    }
}
