"""What a message is: rendering, stencils, the sandbox, calendar parts, SMS length, signed links, composing."""
