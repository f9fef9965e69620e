//! The OCSF copy of the archive, for Amazon Security Lake: every archived event mapped to one
//! OCSF 1.3 class ([`mapping`]), written as Parquet, one class per object ([`parquet`]), under
//! Security Lake's custom-source layout ([`layout`]), derived from what `logs/` holds after each
//! batch is committed ([`derive`]): it never blocks or changes the archive.
pub mod class;
pub mod mapping;
pub mod parquet;

pub use class::{OcsfClass, OCSF_VERSION};
pub mod derive;
pub mod layout;
pub mod store;

pub use derive::{Derivation, DeriveError, DeriveReport};
pub use layout::{Partition, SourceFolders};
