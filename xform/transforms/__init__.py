"""IR-to-IR transformations: jvp, vjp (linearize + transpose), vmap, and simplification."""
