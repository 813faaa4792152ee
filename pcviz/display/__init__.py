"""Display maths without Qt: how a layer's vector is tiled into an image and mapped to colours."""
