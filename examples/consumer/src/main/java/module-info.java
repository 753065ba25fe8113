/** A program that uses untwist from the module path: it needs only the core API; backends come as services. */
module org.untwist.example.consumer {
    requires org.untwist.core;
}
