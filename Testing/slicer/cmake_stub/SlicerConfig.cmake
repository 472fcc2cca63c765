# A stand-in for Slicer's CMake package, for checking FusionCINN's CMakeLists.txt without a Slicer build.
# It copies scripts and resources the way Slicer's slicerMacroBuildScriptedModule does (through
# ctkMacroCompilePythonScript): a relative path lands at DESTINATION/<path>; an absolute path under
# CMAKE_CURRENT_BINARY_DIR lands at DESTINATION/<path relative to CMAKE_CURRENT_BINARY_DIR>; the
# whole destination folder is installed into Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR.
set(Slicer_FOUND TRUE)
set(Slicer_USE_FILE "${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake")
set(Slicer_EXTENSION_GENERATE_CONFIG "${CMAKE_CURRENT_LIST_DIR}/Empty.cmake")
set(Slicer_EXTENSION_CPACK "${CMAKE_CURRENT_LIST_DIR}/Empty.cmake")
