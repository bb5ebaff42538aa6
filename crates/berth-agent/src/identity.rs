//! Who the agent is to the server: the container instance it registered as and the key its
//! calls carry. Everything that calls the server shares one, and a new registration (after
//! the server forgot the agent) replaces it for all of them at once.

use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub instance_arn: String,
    pub agent_key: String,
}

#[derive(Clone)]
pub struct Identity(Arc<RwLock<Registered>>);

impl Identity {
    pub fn new(instance_arn: &str, agent_key: &str) -> Identity {
        Identity(Arc::new(RwLock::new(Registered {
            instance_arn: instance_arn.to_string(),
            agent_key: agent_key.to_string(),
        })))
    }

    /// Who the agent is now.
    pub fn get(&self) -> Registered {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Who the agent is after registering again.
    pub fn set(&self, instance_arn: &str, agent_key: &str) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Registered {
            instance_arn: instance_arn.to_string(),
            agent_key: agent_key.to_string(),
        };
    }
}
