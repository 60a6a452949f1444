//! Network-namespace lab: topology, process supervisor, real BGP routers, probes.

#![forbid(unsafe_code)]
